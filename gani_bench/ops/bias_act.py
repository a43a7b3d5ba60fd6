"""bias_act: add a bias, apply an activation, scale by a gain and clamp, as one op.

StyleGAN2 ends every layer with ``clamp(act(x + b) * gain)``: the gain (``sqrt(2)`` for
(leaky) ReLU) keeps activations at unit variance under equalised learning rate, and the
clamp (``conv_clamp``, 256 in NVIDIA's FFHQ models) guards fp16 against overflow. Because the
clamp changes the function whenever an activation exceeds it, a re-implementation has to
apply it at exactly the same place to reproduce a checkpoint's images.

Activations live in a registry of :class:`ActivationSpec` (name -> function, default alpha,
default gain), so a new one is a single registration, not a new branch. The reference path
is plain PyTorch; a fused CUDA kernel covers the piecewise-linear activations (``linear``,
``relu``, ``lrelu``) the generator uses, whose second derivative is zero, which lets the
kernel's backward be exact to any order with a single extra kernel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from ..registry import Registry
from . import _jit

_SOURCES = ("bias_act.cpp", "bias_act.cu")
_PLUGIN = "gani_bench_bias_act"


@dataclass(frozen=True)
class ActivationSpec:
    """One activation: ``func(x, alpha)``, its default shape parameter and output gain.

    ``def_gain`` is the factor that restores unit second moment after the activation for a
    standard-normal input (sqrt(2) for ReLU-like functions), as StyleGAN2 uses it.
    ``cuda_kind`` is the kernel's code for it (None = reference path only).
    """

    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float = 0.0
    def_gain: float = 1.0
    cuda_kind: Optional[int] = None

    def alpha_and_gain(self, alpha: Optional[float], gain: Optional[float]) -> Tuple[float, float]:
        """``alpha`` and ``gain`` as floats, None meaning this activation's default.

        Both the dispatching :func:`bias_act` and :func:`bias_act_ref` (also public) accept None,
        so the defaulting rule lives here once.
        """
        return float(self.def_alpha if alpha is None else alpha), float(self.def_gain if gain is None else gain)


ACTIVATIONS: Registry[ActivationSpec] = Registry("activation")
ACTIVATIONS.add("linear", ActivationSpec(lambda x, a: x, 0.0, 1.0, cuda_kind=0))
ACTIVATIONS.add("relu", ActivationSpec(lambda x, a: F.relu(x), 0.0, math.sqrt(2), cuda_kind=1))
ACTIVATIONS.add("lrelu", ActivationSpec(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2), cuda_kind=2))
ACTIVATIONS.add("tanh", ActivationSpec(lambda x, a: torch.tanh(x), 0.0, 1.0))
ACTIVATIONS.add("sigmoid", ActivationSpec(lambda x, a: torch.sigmoid(x), 0.0, 1.0))
ACTIVATIONS.add("elu", ActivationSpec(lambda x, a: F.elu(x), 0.0, 1.0))
ACTIVATIONS.add("selu", ActivationSpec(lambda x, a: F.selu(x), 0.0, 1.0))
ACTIVATIONS.add("softplus", ActivationSpec(lambda x, a: F.softplus(x), 0.0, 1.0))
ACTIVATIONS.add("swish", ActivationSpec(lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)))


def activation_gain(act: str) -> float:
    """The default output gain of ``act`` (what NVIDIA calls ``def_gain``)."""
    return ACTIVATIONS.get(act).def_gain


def bias_act(
    x: torch.Tensor,
    b: Optional[torch.Tensor] = None,
    dim: int = 1,
    act: str = "linear",
    alpha: Optional[float] = None,
    gain: Optional[float] = None,
    clamp: Optional[float] = None,
    impl: str = "auto",
) -> torch.Tensor:
    """``clamp(act(x + b) * gain, -clamp, clamp)`` with ``b`` broadcast along ``dim``.

    ``alpha`` and ``gain`` default to the activation's registered values; ``clamp=None``
    disables clamping. ``impl`` is ``'auto'``, ``'ref'`` or ``'cuda'`` as for upfirdn2d.
    """
    spec = ACTIVATIONS.get(act)
    alpha_f, gain_f = spec.alpha_and_gain(alpha, gain)
    if clamp is not None and clamp < 0:
        raise ValueError(f"bias_act: clamp must be >= 0 or None, got {clamp}")
    if b is not None and (b.ndim != 1 or not (0 <= dim < x.ndim) or b.shape[0] != x.shape[dim]):
        raise ValueError(f"bias_act: bias of shape {tuple(b.shape)} does not fit dim {dim} of input {tuple(x.shape)}")
    if spec.cuda_kind is None:
        _jit.check_impl(impl)
        if impl == "cuda":
            raise _jit.CudaOpsUnavailable(f"bias_act: activation {act!r} has no CUDA kernel; use impl='auto' or 'ref'")
        plugin = None
    else:
        plugin = _jit.want_cuda(impl, x.is_cuda, _PLUGIN, _SOURCES)
    if plugin is not None:
        clamp_f = -1.0 if clamp is None else float(clamp)
        return _cuda_function(dim, spec.cuda_kind, alpha_f, gain_f, clamp_f).apply(x, b)
    return bias_act_ref(x, b, dim=dim, act=act, alpha=alpha_f, gain=gain_f, clamp=clamp)


def bias_act_ref(
    x: torch.Tensor,
    b: Optional[torch.Tensor] = None,
    dim: int = 1,
    act: str = "linear",
    alpha: Optional[float] = None,
    gain: Optional[float] = None,
    clamp: Optional[float] = None,
) -> torch.Tensor:
    """The reference path in plain PyTorch (any device, any order of gradients)."""
    spec = ACTIVATIONS.get(act)
    alpha_f, gain_f = spec.alpha_and_gain(alpha, gain)
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = x + b.reshape(shape)
    x = spec.func(x, alpha_f)
    if gain_f != 1:
        x = x * gain_f
    if clamp is not None:
        x = x.clamp(-float(clamp), float(clamp))
    return x


# ---------------------------------------------------------------------------------------------
# CUDA path. Forward: y = clamp(gain * act(x + b)). For piecewise-linear activations the local
# derivative g = dy/dx is a function of y alone (sign of y, and |y| < clamp), so backward is
# dx = dy * g(y), computed by the same kernel in "grad" mode; dx is linear in dy and g is
# piecewise constant in x, so the backward's own backward is again dy -> dy * g(y).

_cuda_cache: Dict[tuple, type] = {}


def _cuda_function(dim: int, kind: int, alpha: float, gain: float, clamp: float) -> type:
    key = (dim, kind, alpha, gain, clamp)
    if key in _cuda_cache:
        return _cuda_cache[key]

    def bias_shape(x: torch.Tensor) -> list:
        return [-1 if i == dim else 1 for i in range(x.ndim)]

    class _GradCuda(torch.autograd.Function):
        """dx = dy * g(y); linear in dy, and g is locally constant in y."""

        @staticmethod
        def forward(ctx, dy: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            plugin = _jit.get_plugin(_PLUGIN, _SOURCES)
            ctx.save_for_backward(y)
            return plugin.bias_act_grad(dy.contiguous(), y.contiguous(), kind, alpha, gain, clamp)

        @staticmethod
        def backward(ctx, ddx: torch.Tensor):  # type: ignore[override]
            (y,) = ctx.saved_tensors
            return _GradCuda.apply(ddx, y), None

    class _BiasActCuda(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
            plugin = _jit.get_plugin(_PLUGIN, _SOURCES)
            x = x.contiguous()
            if b is None:
                bb = x.new_empty([0])
                stride, channels = 1, 1
            else:
                bb = b.to(x.dtype).contiguous()
                channels = int(x.shape[dim])
                stride = 1
                for s in x.shape[dim + 1:]:
                    stride *= int(s)
            y = plugin.bias_act(x, bb, stride, channels, kind, alpha, gain, clamp)
            ctx.save_for_backward(y)
            ctx.has_bias = b is not None
            return y

        @staticmethod
        def backward(ctx, dy: torch.Tensor):  # type: ignore[override]
            (y,) = ctx.saved_tensors
            dx = _GradCuda.apply(dy, y)
            db = None
            if ctx.has_bias and ctx.needs_input_grad[1]:
                dims = [i for i in range(dx.ndim) if i != dim]
                db = dx.sum(dims) if dims else dx
            return (dx if ctx.needs_input_grad[0] else None), db

    _cuda_cache[key] = _BiasActCuda
    return _BiasActCuda


__all__ = ["ACTIVATIONS", "ActivationSpec", "activation_gain", "bias_act", "bias_act_ref"]
