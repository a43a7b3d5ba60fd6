"""upfirdn2d: upsample, pad, FIR-filter and downsample a batch of 2-D images (one op).

StyleGAN2 resamples with a low-pass FIR filter (``[1, 3, 3, 1]``) instead of nearest or
bilinear interpolation, because aliasing from naive resampling shows up as texture sticking.
Every resampling step of the generator is an instance of one op, in this order per channel:

1. upsample by inserting ``up - 1`` zeros after every pixel,
2. pad with zeros (negative padding crops),
3. convolve with the 2-D FIR filter ``f`` (true convolution unless ``flip_filter``), keeping
   only outputs whose footprint lies inside the padded image,
4. keep every ``down``-th pixel.

This matches the definition of NVIDIA's op (and ``scipy.signal.upfirdn``), so checkpoints and
numbers carry over. The reference path below uses only differentiable PyTorch ops and runs
on any device; a fused CUDA kernel (``cuda/upfirdn2d.cu``) is used for CUDA inputs when it
builds (see :mod:`gani_bench.ops._jit`).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from . import _jit

IntPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int]]

_SOURCES = ("upfirdn2d.cpp", "upfirdn2d.cu")
_PLUGIN = "gani_bench_upfirdn2d"


def parse_scaling(scaling: IntPair) -> Tuple[int, int]:
    """``2`` or ``[sx, sy]`` -> ``(sx, sy)``; factors are positive integers."""
    if isinstance(scaling, int):
        scaling = [scaling, scaling]
    sx, sy = (int(s) for s in scaling)
    if sx < 1 or sy < 1:
        raise ValueError(f"resampling factors must be >= 1, got {scaling}")
    return sx, sy


def parse_padding(padding: Padding) -> Tuple[int, int, int, int]:
    """``p``, ``[px, py]`` or ``[x0, x1, y0, y1]`` -> ``(x0, x1, y0, y1)``."""
    if isinstance(padding, int):
        padding = [padding, padding]
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    if len(padding) != 4:
        raise ValueError(f"padding must have 1, 2 or 4 entries, got {padding}")
    x0, x1, y0, y1 = padding
    return x0, x1, y0, y1


def filter_size(f: Optional[torch.Tensor]) -> Tuple[int, int]:
    """(width, height) of a prepared filter; a 1-D (separable) filter is square."""
    if f is None:
        return 1, 1
    if f.ndim not in (1, 2):
        raise ValueError(f"FIR filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    return int(f.shape[-1]), int(f.shape[0])


def setup_filter(
    f: Union[None, float, Sequence[float], torch.Tensor],
    device: Union[str, torch.device] = "cpu",
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1.0,
    separable: Optional[bool] = None,
) -> torch.Tensor:
    """Turn taps like ``[1, 3, 3, 1]`` into the float32 filter tensor the ops expect.

    A 1-D list becomes its outer product (a 2-D filter) unless it is long (>= 8 taps), where
    the separable form is cheaper; normalising to unit DC gain keeps image brightness under
    resampling. ``gain`` scales the total signal magnitude (applied as ``gain ** (ndim/2)`` so
    that the 2-D result carries it once). These conventions are NVIDIA's, and they decide the
    values of the ``resample_filter`` buffers stored in checkpoints.
    """
    if f is None:
        f = 1.0
    t = torch.as_tensor(f, dtype=torch.float32).clone()
    if t.numel() == 0 or t.ndim > 2:
        raise ValueError(f"FIR filter must be a scalar, 1-D or 2-D, got shape {tuple(t.shape)}")
    if t.ndim == 0:
        t = t.reshape(1)
    if separable is None:
        separable = t.ndim == 1 and t.numel() >= 8
    if t.ndim == 1 and not separable:
        t = torch.outer(t, t)
    if normalize:
        t = t / t.sum()
    if flip_filter:
        t = t.flip(list(range(t.ndim)))
    t = t * (gain ** (t.ndim / 2))
    return t.to(device=device)


def upfirdn2d(
    x: torch.Tensor,
    f: Optional[torch.Tensor],
    up: IntPair = 1,
    down: IntPair = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
    impl: str = "auto",
) -> torch.Tensor:
    """Pad, upsample, filter and downsample ``x`` ([N, C, H, W]) with FIR filter ``f``.

    ``padding`` is with respect to the upsampled image; ``gain`` scales the output.
    ``impl``: ``'ref'`` (PyTorch ops), ``'cuda'`` (fused kernel, raises if unavailable) or
    ``'auto'`` (kernel for CUDA inputs when it builds, else the reference path).
    Differentiable to any order on both paths.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"upfirdn2d expects a 4-D [N, C, H, W] tensor, got {getattr(x, 'shape', type(x))}")
    plugin = _jit.want_cuda(impl, x.is_cuda, _PLUGIN, _SOURCES)
    if plugin is not None:
        if f is None:
            f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
        return _cuda_function(parse_scaling(up), parse_scaling(down), parse_padding(padding), flip_filter, float(gain)).apply(x, f)
    return upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def upfirdn2d_ref(
    x: torch.Tensor,
    f: Optional[torch.Tensor],
    up: IntPair = 1,
    down: IntPair = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """The reference path: four plain PyTorch steps, differentiable on any device."""
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    x0, x1, y0, y1 = parse_padding(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    if f.requires_grad:
        raise ValueError("upfirdn2d: the FIR filter must be a constant (requires_grad=False)")
    n, c, h, w = x.shape

    # 1. zero insertion: view each pixel as a 1x1 block and pad it to up x up
    if upx > 1 or upy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(n, c, h * upy, w * upx)

    # 2. pad; F.pad crops on negative amounts, which is exactly "negative padding"
    if x0 or x1 or y0 or y1:
        x = F.pad(x, [x0, x1, y0, y1])

    # 3. FIR filter as a depthwise correlation; flipping the taps makes it a true convolution
    taps = f.to(device=x.device, dtype=x.dtype) * (gain ** (f.ndim / 2))
    if not flip_filter:
        taps = taps.flip(list(range(taps.ndim)))
    if taps.ndim == 2:
        weight = taps[None, None].expand(c, 1, *taps.shape)
        x = F.conv2d(x, weight, groups=c)
    else:
        row = taps.reshape(1, 1, 1, -1).expand(c, 1, 1, taps.numel())
        col = taps.reshape(1, 1, -1, 1).expand(c, 1, taps.numel(), 1)
        x = F.conv2d(F.conv2d(x, row, groups=c), col, groups=c)

    # 4. decimate
    if downx > 1 or downy > 1:
        x = x[:, :, ::downy, ::downx]
    return x


def filter2d(x: torch.Tensor, f: Optional[torch.Tensor], padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0, impl: str = "auto") -> torch.Tensor:
    """FIR-filter ``x`` keeping its size (zero padding outside); ``padding`` adds on top."""
    x0, x1, y0, y1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [x0 + fw // 2, x1 + (fw - 1) // 2, y0 + fh // 2, y1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: Optional[torch.Tensor], up: IntPair = 2, padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0, impl: str = "auto") -> torch.Tensor:
    """Upsample by ``up`` with FIR interpolation; output is exactly ``up`` times the input.

    The gain ``up_x * up_y`` compensates for the zeros inserted, so a constant image stays
    constant (away from the borders).
    """
    upx, upy = parse_scaling(up)
    x0, x1, y0, y1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [x0 + (fw + upx - 1) // 2, x1 + (fw - upx) // 2, y0 + (fh + upy - 1) // 2, y1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x: torch.Tensor, f: Optional[torch.Tensor], down: IntPair = 2, padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0, impl: str = "auto") -> torch.Tensor:
    """Low-pass filter then decimate by ``down``; output is the input size divided by ``down``."""
    downx, downy = parse_scaling(down)
    x0, x1, y0, y1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [x0 + (fw - downx + 1) // 2, x1 + (fw - downx) // 2, y0 + (fh - downy + 1) // 2, y1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


# ---------------------------------------------------------------------------------------------
# CUDA path: one autograd.Function class per static configuration (the kernel's scalar args).
# The backward of upfirdn2d is again an upfirdn2d (up and down swapped, filter flipped, padding
# mirrored), so gradients of any order reuse the same kernel.

_cuda_cache: Dict[tuple, type] = {}


def _cuda_function(up: Tuple[int, int], down: Tuple[int, int], pad: Tuple[int, int, int, int], flip_filter: bool, gain: float) -> type:
    key = (up, down, pad, flip_filter, gain)
    if key in _cuda_cache:
        return _cuda_cache[key]
    upx, upy = up
    downx, downy = down
    x0, x1, y0, y1 = pad

    class _Upfirdn2dCuda(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            plugin = _jit.get_plugin(_PLUGIN, _SOURCES)
            f32 = f.to(torch.float32)
            if f32.ndim == 2:
                y = plugin.upfirdn2d(x.contiguous(), f32.contiguous(), upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain)
            else:  # separable: a row pass then a column pass, each carrying sqrt(gain)
                g = gain ** 0.5
                y = plugin.upfirdn2d(x.contiguous(), f32.reshape(1, -1).contiguous(), upx, 1, downx, 1, x0, x1, 0, 0, flip_filter, g)
                y = plugin.upfirdn2d(y, f32.reshape(-1, 1).contiguous(), 1, upy, 1, downy, 0, 0, y0, y1, flip_filter, g)
            ctx.save_for_backward(f)
            ctx.in_hw = (int(x.shape[2]), int(x.shape[3]))
            return y

        @staticmethod
        def backward(ctx, dy: torch.Tensor):  # type: ignore[override]
            (f,) = ctx.saved_tensors
            ih, iw = ctx.in_hw
            oh, ow = int(dy.shape[2]), int(dy.shape[3])
            fw, fh = filter_size(f)
            p = (fw - x0 - 1, iw * upx - ow * downx + x0 - upx + 1, fh - y0 - 1, ih * upy - oh * downy + y0 - upy + 1)
            dx = None
            if ctx.needs_input_grad[0]:
                dx = _cuda_function((downx, downy), (upx, upy), p, not flip_filter, gain).apply(dy, f)
            return dx, None

    _cuda_cache[key] = _Upfirdn2dCuda
    return _Upfirdn2dCuda


__all__: List[str] = ["setup_filter", "upfirdn2d", "upfirdn2d_ref", "filter2d", "upsample2d", "downsample2d", "parse_padding", "parse_scaling", "filter_size"]
