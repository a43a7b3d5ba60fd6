"""upfirdn2d and bias_act: reference path vs direct formulas, gradients, impl selection, CUDA vs ref."""
from __future__ import annotations

import importlib
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from gani_bench.errors import GaniBenchError
from gani_bench.ops import _jit
from gani_bench.ops import bias_act, bias_act_ref, downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d
from gani_bench.ops.upfirdn2d import upfirdn2d_ref

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device: the fused kernels cannot be compared here")


def naive_upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int, down: int, pad: tuple, gain: float = 1.0, flip_filter: bool = False) -> torch.Tensor:
    """The op's definition written out with loops (float64), independent of the implementation.

    up: y[i*up] = x[i]; pad (negative crops); out[m] = sum_k padded[m + k] * f[K-1-k]
    (true convolution, or correlation with flip_filter); keep every down-th output.
    """
    x = x.double()
    f2 = (f if f.ndim == 2 else torch.outer(f, f)).double() * (gain ** (f.ndim / 2))
    if f.ndim == 1:
        f2 = torch.outer(f.double(), f.double()) * gain  # separable taps apply once per axis
    n, c, h, w = x.shape
    u = torch.zeros(n, c, h * up, w * up, dtype=torch.float64)
    u[:, :, ::up, ::up] = x
    x0, x1, y0, y1 = pad
    H, W = h * up + y0 + y1, w * up + x0 + x1
    P = torch.zeros(n, c, H, W, dtype=torch.float64)
    for yy in range(H):
        for xx in range(W):
            sy, sx = yy - y0, xx - x0
            if 0 <= sy < h * up and 0 <= sx < w * up:
                P[:, :, yy, xx] = u[:, :, sy, sx]
    fh, fw = f2.shape
    k = f2 if flip_filter else f2.flip([0, 1])
    oh, ow = H - fh + 1, W - fw + 1
    out = torch.zeros(n, c, oh, ow, dtype=torch.float64)
    for yy in range(oh):
        for xx in range(ow):
            out[:, :, yy, xx] = (P[:, :, yy:yy + fh, xx:xx + fw] * k).sum(dim=(2, 3))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2, 0, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (3, 2, (0, -1, 2, -2)), (2, 2, (-1, 0, 1, 3))])
@pytest.mark.parametrize("flip", [False, True])
def test_upfirdn2d_matches_loop_definition_with_asymmetric_filter(up: int, down: int, pad: tuple, flip: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    f = torch.rand(3, 4, generator=gen)  # asymmetric, non-square: catches flips and axis swaps
    got = upfirdn2d(x, f, up=up, down=down, padding=pad, gain=1.7, flip_filter=flip)
    want = naive_upfirdn2d(x, f, up, down, pad, gain=1.7, flip_filter=flip)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-12)


def test_separable_filter_equals_its_outer_product() -> None:
    x = torch.randn(1, 2, 7, 7, dtype=torch.float64)
    taps = [1.0, 2.0, 5.0, 3.0, 1.0, 1.0, 2.0, 4.0]
    sep = setup_filter(taps, separable=True)
    full = setup_filter(taps, separable=False)
    assert sep.ndim == 1 and full.ndim == 2
    a = upfirdn2d(x, sep, up=2, padding=[4, 3, 4, 3], gain=4)
    b = upfirdn2d(x, full, up=2, padding=[4, 3, 4, 3], gain=4)
    assert torch.allclose(a, b, atol=1e-6)  # the two filters differ by float32 rounding only
    assert torch.allclose(a, naive_upfirdn2d(x, sep, 2, 1, (4, 3, 4, 3), gain=4), atol=1e-12)


def test_delta_filter_is_pure_zero_insertion_and_decimation() -> None:
    x = torch.randn(2, 3, 4, 5)
    up = upfirdn2d(x, setup_filter([1]), up=2)
    want = torch.zeros(2, 3, 8, 10)
    want[:, :, ::2, ::2] = x
    assert torch.equal(up, want)
    assert torch.equal(upfirdn2d(x, None, down=2), x[:, :, ::2, ::2])
    assert torch.equal(upfirdn2d(x, None, padding=[-1, 0, 0, -2]), x[:, :, :-2, 1:])


def test_fir_upsample_equals_transposed_convolution() -> None:
    """upsample2d with [1,3,3,1] = depthwise conv_transpose2d(stride 2, pad 1) with 4*f."""
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1])
    assert torch.allclose(f.sum(), torch.tensor(1.0))
    k = (4 * f).double()[None, None].repeat(3, 1, 1, 1)
    want = F.conv_transpose2d(x, k, stride=2, padding=1, groups=3)
    got = upsample2d(x, f)
    assert got.shape == (2, 3, 12, 12)
    assert torch.allclose(got, want, atol=1e-12)


def test_fir_downsample_and_filter2d_formulas() -> None:
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1])
    k = f.double()[None, None].repeat(3, 1, 1, 1)
    assert torch.allclose(downsample2d(x, f), F.conv2d(x, k, stride=2, padding=1, groups=3), atol=1e-12)
    g = setup_filter([1, 2, 1])
    kg = g.double()[None, None].repeat(3, 1, 1, 1)
    assert torch.allclose(filter2d(x, g), F.conv2d(x, kg, padding=1, groups=3), atol=1e-12)


def test_upsample_keeps_a_constant_image_constant_inside() -> None:
    x = torch.full((1, 1, 8, 8), 2.5)
    y = upsample2d(x, setup_filter([1, 3, 3, 1]))
    assert torch.allclose(y[:, :, 2:-2, 2:-2], torch.full_like(y[:, :, 2:-2, 2:-2], 2.5), atol=1e-6)


def test_setup_filter_conventions() -> None:
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    assert torch.allclose(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    assert torch.allclose(setup_filter([1, 3, 3, 1], gain=4).sum(), torch.tensor(4.0))
    assert torch.equal(setup_filter([1, 2, 3], flip_filter=True), setup_filter([3, 2, 1]))


def test_upfirdn2d_gradcheck_float64() -> None:
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    f = torch.rand(3, 4)
    fn = lambda t: upfirdn2d(t, f, up=2, down=1, padding=[1, 2, 2, 0], gain=2.0)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
    fn2 = lambda t: downsample2d(t, setup_filter([1, 3, 3, 1]))  # noqa: E731
    assert torch.autograd.gradcheck(fn2, (x,))


def test_bias_act_lrelu_matches_formula_with_gain_and_clamp() -> None:
    x = torch.randn(4, 6, 5, 5) * 3
    b = torch.randn(6)
    ref = F.leaky_relu(x + b.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)
    assert torch.allclose(bias_act(x, b, act="lrelu"), ref, atol=1e-6)
    clamped = bias_act(x, b, act="lrelu", clamp=1.5)
    assert torch.allclose(clamped, ref.clamp(-1.5, 1.5), atol=1e-6)
    assert float(clamped.abs().max()) == 1.5
    assert torch.allclose(bias_act(x, b, act="lrelu", alpha=0.1, gain=0.5), F.leaky_relu(x + b.reshape(1, -1, 1, 1), 0.1) * 0.5, atol=1e-6)


@pytest.mark.parametrize("act,fn", [
    ("linear", lambda t: t),
    ("relu", lambda t: F.relu(t) * math.sqrt(2)),
    ("tanh", torch.tanh),
    ("sigmoid", torch.sigmoid),
    ("swish", lambda t: torch.sigmoid(t) * t * math.sqrt(2)),
    ("softplus", F.softplus),
])
def test_bias_act_registry_activations(act: str, fn) -> None:
    x = torch.randn(3, 4, 7)
    b = torch.randn(7)
    assert torch.allclose(bias_act(x, b, dim=2, act=act), fn(x + b), atol=1e-6)


def test_bias_act_without_bias_and_unknown_activation() -> None:
    x = torch.randn(5, 3)
    assert torch.equal(bias_act(x), x)
    with pytest.raises(GaniBenchError, match="unknown activation 'gelu2'; valid activations: "):
        bias_act(x, act="gelu2")
    with pytest.raises(ValueError, match="does not fit dim 1"):
        bias_act(x, torch.zeros(4))


def test_bias_act_gradcheck_float64() -> None:
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    for act, clamp in [("lrelu", None), ("lrelu", 0.8), ("tanh", None), ("linear", 0.5)]:
        fn = lambda t, bb: bias_act(t, bb, act=act, clamp=clamp)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b)), act


def test_impl_argument_is_validated_and_cuda_insists() -> None:
    x = torch.randn(1, 1, 4, 4)
    with pytest.raises(GaniBenchError, match="unknown ops impl 'fast'"):
        upfirdn2d(x, None, impl="fast")
    with pytest.raises(_jit.CudaOpsUnavailable, match="needs a CUDA tensor"):
        upfirdn2d(x, None, impl="cuda")
    with pytest.raises(_jit.CudaOpsUnavailable, match="needs a CUDA tensor"):
        bias_act(x, act="lrelu", impl="cuda")
    with pytest.raises(_jit.CudaOpsUnavailable, match="no CUDA kernel"):
        bias_act(x, act="tanh", impl="cuda")
    assert torch.equal(upfirdn2d(x, setup_filter([1, 2, 1]), impl="ref"), upfirdn2d(x, setup_filter([1, 2, 1]), impl="auto"))


def test_failed_build_warns_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.utils.cpp_extension as cpp_extension

    def boom(*args, **kwargs):
        raise RuntimeError("ninja: build stopped: nvcc not found")

    monkeypatch.setattr(cpp_extension, "load", boom)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    name = "gani_bench_test_plugin_that_fails"
    _jit._plugins.pop(name, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _jit.get_plugin(name, ["nothing.cu"]) is None
        assert _jit.get_plugin(name, ["nothing.cu"]) is None
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1
    assert "nvcc not found" in msgs[0] and "reference path" in msgs[0] and "GANI_BENCH_OPS=ref" in msgs[0]
    _jit._plugins.pop(name, None)


def test_env_var_forces_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANI_BENCH_OPS", "ref")
    assert _jit.want_cuda("auto", True, "never_built", ["x.cu"]) is None
    assert "never_built" not in _jit._plugins


# --- CUDA kernels vs reference (skipped without a GPU) -------------------------------------


@needs_cuda
@pytest.mark.parametrize("up,down,pad,sep", [(1, 1, (1, 1, 1, 1), False), (2, 1, (2, 1, 2, 1), False), (1, 2, (1, 1, 1, 1), False),
                                             (2, 2, (0, -1, 3, 1), False), (2, 1, (4, 3, 4, 3), True), (4, 1, (3, 0, 1, 2), False)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_cuda_upfirdn2d_matches_ref(up: int, down: int, pad: tuple, sep: bool, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 17, 13, generator=gen).to("cuda", dtype).requires_grad_(True)
    f = (setup_filter([1, 2, 5, 3, 1, 1, 2, 4], separable=True) if sep else torch.rand(3, 4, generator=gen)).cuda()
    y_c = upfirdn2d(x, f, up=up, down=down, padding=pad, gain=1.3, impl="cuda")
    y_r = upfirdn2d_ref(x, f, up=up, down=down, padding=pad, gain=1.3)
    tol = 1e-2 if dtype == torch.float16 else 1e-5
    assert y_c.shape == y_r.shape and y_c.dtype == dtype
    assert torch.allclose(y_c.float(), y_r.float(), atol=tol, rtol=tol)
    g = torch.randn_like(y_r)
    (gc,) = torch.autograd.grad(y_c, x, g)
    (gr,) = torch.autograd.grad(y_r, x, g)
    assert torch.allclose(gc.float(), gr.float(), atol=tol, rtol=tol)


@needs_cuda
def test_cuda_upfirdn2d_double_backward() -> None:
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    f = torch.rand(3, 4).cuda()
    fn = lambda t: upfirdn2d(t, f, up=2, down=1, padding=[1, 2, 2, 0], gain=2.0, impl="cuda")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@needs_cuda
@pytest.mark.parametrize("act,clamp,dim", [("lrelu", None, 1), ("lrelu", 0.7, 1), ("relu", 0.5, 2), ("linear", None, 0), ("linear", 0.3, 1)])
def test_cuda_bias_act_matches_ref(act: str, clamp, dim: int) -> None:
    x = torch.randn(4, 6, 9, 7, device="cuda", dtype=torch.float64, requires_grad=True)
    b = torch.randn(x.shape[dim], device="cuda", dtype=torch.float64, requires_grad=True)
    y_c = bias_act(x, b, dim=dim, act=act, clamp=clamp, impl="cuda")
    y_r = bias_act_ref(x, b, dim=dim, act=act, clamp=clamp)
    assert torch.allclose(y_c, y_r, atol=1e-12)
    g = torch.randn_like(y_r)
    gc = torch.autograd.grad(y_c, (x, b), g)
    gr = torch.autograd.grad(y_r, (x, b), g)
    assert all(torch.allclose(a, c, atol=1e-10) for a, c in zip(gc, gr))
    fn = lambda t, bb: bias_act(t, bb, dim=dim, act=act, clamp=clamp, impl="cuda")  # noqa: E731
    small = (x[:2, :3, :3, :3].detach().clone().requires_grad_(True),)
    bb = torch.randn(small[0].shape[dim], device="cuda", dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(fn, (small[0], bb))


@needs_cuda
def test_cuda_generator_matches_cpu_reference() -> None:
    from gani_bench.stylegan2.embedded import build_embedded_generator

    G = build_embedded_generator(0)
    ws = G.mapping(torch.randn(2, G.z_dim), None).detach()
    with torch.no_grad():
        cpu = G.synthesis(ws, noise_mode="const")
        gpu = G.cuda().synthesis(ws.cuda(), noise_mode="const").cpu()
    assert float((cpu - gpu).abs().max()) < 1e-3 * max(1.0, float(cpu.abs().max()))


# --- the CUDA path's autograd glue, run on CPU with a stand-in for the compiled plugin ------
# The stand-ins compute exactly what the kernels are specified to compute (outside autograd,
# as a kernel would), so these tests check the Python wrappers: separable passes, the padding
# of the upfirdn2d backward, bias gradients and double backward.


class _FakeUpfirdn2dPlugin:
    @staticmethod
    def upfirdn2d(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip, gain):
        assert f.ndim == 2 and f.dtype == torch.float32
        with torch.no_grad():
            return naive_upfirdn2d_xy(x, f, (upx, upy), (downx, downy), (x0, x1, y0, y1), gain, flip).to(x.dtype)


def naive_upfirdn2d_xy(x, f, up, down, pad, gain, flip):
    """upfirdn2d_ref with separate x/y factors (what one kernel launch computes)."""
    return upfirdn2d_ref(x, f, up=list(up), down=list(down), padding=list(pad), gain=gain, flip_filter=flip)


class _FakeBiasActPlugin:
    @staticmethod
    def bias_act(x, b, stride, channels, kind, alpha, gain, clamp):
        with torch.no_grad():
            v = x.clone()
            if b.numel():
                idx = (torch.arange(x.numel()) // stride) % channels
                v = v + b[idx].reshape(x.shape)
            v = {0: v, 1: F.relu(v), 2: F.leaky_relu(v, alpha)}[kind] * gain
            return v.clamp(-clamp, clamp) if clamp >= 0 else v

    @staticmethod
    def bias_act_grad(dy, y, kind, alpha, gain, clamp):
        with torch.no_grad():
            g = torch.full_like(y, gain)
            if kind:
                pos = y > 0 if gain >= 0 else y < 0
                g = torch.where(pos, g, g * (alpha if kind == 2 else 0.0))
            if clamp >= 0:
                g = torch.where(y.abs() >= clamp, torch.zeros_like(g), g)
            return dy * g


@pytest.mark.parametrize("up,down,pad,sep", [(2, 1, (2, 1, 2, 1), False), (1, 2, (1, 2, 0, 1), False), (2, 2, (0, -1, 3, 1), False), (2, 1, (4, 3, 4, 3), True)])
def test_cuda_wrapper_glue_with_stand_in_plugin(monkeypatch: pytest.MonkeyPatch, up: int, down: int, pad: tuple, sep: bool) -> None:
    U = importlib.import_module("gani_bench.ops.upfirdn2d")

    monkeypatch.setattr(_jit, "get_plugin", lambda name, sources: _FakeUpfirdn2dPlugin)
    U._cuda_cache.clear()
    f = setup_filter([1, 2, 5, 3, 1, 1, 2, 4], separable=True) if sep else torch.rand(3, 4, generator=torch.Generator().manual_seed(2))
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    fn = lambda t: U._cuda_function((up, up), (down, down), pad, False, 1.3).apply(t, f)  # noqa: E731
    assert torch.allclose(fn(x), upfirdn2d_ref(x, f, up=up, down=down, padding=pad, gain=1.3), atol=1e-12)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
    U._cuda_cache.clear()


@pytest.mark.parametrize("act,clamp,dim", [("lrelu", None, 1), ("lrelu", 0.9, 1), ("relu", 0.5, 2), ("linear", 0.3, 0)])
def test_bias_act_cuda_wrapper_glue_with_stand_in_plugin(monkeypatch: pytest.MonkeyPatch, act: str, clamp, dim: int) -> None:
    B = importlib.import_module("gani_bench.ops.bias_act")

    monkeypatch.setattr(_jit, "get_plugin", lambda name, sources: _FakeBiasActPlugin)
    B._cuda_cache.clear()
    spec = B.ACTIVATIONS.get(act)
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(x.shape[dim], dtype=torch.float64, requires_grad=True)
    fn = lambda t, bb: B._cuda_function(dim, spec.cuda_kind, spec.def_alpha, spec.def_gain, -1.0 if clamp is None else clamp).apply(t, bb)  # noqa: E731
    assert torch.allclose(fn(x, b), bias_act_ref(x, b, dim=dim, act=act, clamp=clamp), atol=1e-12)
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))
    B._cuda_cache.clear()
