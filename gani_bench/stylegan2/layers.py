"""Building blocks of the StyleGAN2 generator: equalised-lr layers and the modulated conv.

Numerically these follow NVIDIA's stylegan2-ada-pytorch (``training/networks.py`` and
``torch_utils/ops/conv2d_resample.py``), because a checkpoint's weights only reproduce its
images when every scale, flip and padding is the same. The facts that matter:

* Equalised learning rate: weights are stored with unit variance and multiplied at run time
  by ``lr_multiplier / sqrt(fan_in)`` (biases by ``lr_multiplier``).
* Modulated conv: ``w'[n,o,i] = w[o,i] * s[n,i]``, demodulated by
  ``rsqrt(sum_{i,k} w'^2 + 1e-8)``.
* Up-sampling convs (``up=2``) are *true* convolutions (weights flipped) while ``up=1`` convs
  are correlations, as in NVIDIA's code (``flip_weight = (up == 1)``); the weights of trained
  checkpoints are only right under that convention.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..ops import bias_act, setup_filter, upfirdn2d
from ..ops.bias_act import activation_gain
from ..ops.upfirdn2d import filter_size


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit mean square along ``dim`` (StyleGAN's "pixel norm" of z)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def _randn(shape: Sequence[int], generator: Optional[torch.Generator]) -> torch.Tensor:
    return torch.randn(list(shape), generator=generator)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: Optional[torch.Tensor] = None,
    up: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """2-D convolution with optional FIR up-sampling, all padding applied once up front.

    Defined as: insert zeros (``up``), pad by ``padding + filter margins``, FIR filter ``f``
    with gain ``up**2``, then convolve with ``w`` (valid). For ``up > 1`` the same result is
    computed faster by a strided transposed convolution followed by the FIR filter (the two
    linear operators commute); the pads below are that identity worked out, so that the output
    has exactly ``up`` times the input size.
    """
    out_ch, in_per_group, kh, kw = (int(s) for s in w.shape)
    if not flip_weight:  # conv2d correlates; flip to convolve
        w_corr = w.flip([2, 3])
    else:
        w_corr = w
    if up == 1:
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError("conv2d_resample: up=1 needs an odd kernel")
        return F.conv2d(x, w_corr, padding=padding, groups=groups)

    fw, fh = filter_size(f)
    a_x0 = padding + (fw + up - 1) // 2
    a_x1 = padding + (fw - up) // 2
    a_y0 = padding + (fh + up - 1) // 2
    a_y1 = padding + (fh - up) // 2
    # conv_transpose2d(stride=up) = full *convolution* of the zero-inserted input; a correlation
    # with w_corr is a convolution with its flip, hence w_t built from flip(w_corr).
    w_t = w_corr.flip([2, 3])
    if groups == 1:
        w_t = w_t.transpose(0, 1)
    else:
        w_t = w_t.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        w_t = w_t.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    x = F.conv_transpose2d(x, w_t, stride=up, groups=groups)
    pad = [a_x0 - (kw - 1), a_x1 - (kw - up), a_y0 - (kh - 1), a_y1 - (kh - up)]
    return upfirdn2d(x, f, padding=pad, gain=up ** 2)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: Optional[torch.Tensor] = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: Optional[torch.Tensor] = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """StyleGAN2's style-modulated convolution (with demodulation) plus optional noise.

    ``fused_modconv=True`` builds one weight per sample and runs a grouped convolution (fast
    for small batches / inference); ``False`` scales the activations before and after a
    shared convolution instead (cheaper backward for large batches). Both compute the same
    function. The fp16 pre-normalisation mirrors NVIDIA's overflow guard and is a no-op in
    fp32.

    ``weight`` may also be per sample, ``[N, O, I, k, k]`` (HyperStyle-style offsets: each image
    of the batch has its own kernel). Such a weight always takes the grouped-convolution path,
    which already builds one kernel per sample, so the batch is rendered in one pass and the
    shared-weight path is unchanged.
    """
    n = int(x.shape[0])
    per_sample = weight.ndim == 5
    if per_sample and int(weight.shape[0]) != n:
        raise ValueError(f"modulated_conv2d: per-sample weight has batch {int(weight.shape[0])} but the input has {n}")
    out_ch, in_ch, kh, kw = (int(s) for s in weight.shape[-4:])
    if tuple(styles.shape) != (n, in_ch):
        raise ValueError(f"modulated_conv2d: styles shape {tuple(styles.shape)} != {(n, in_ch)}")
    fused_modconv = fused_modconv or per_sample

    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[-3, -2, -1], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = (weight if per_sample else weight.unsqueeze(0)) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:
            x = torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        elif demodulate:
            x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        elif noise is not None:
            x = x + noise.to(x.dtype)
        return x

    if demodulate:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), resample_filter, up=up, padding=padding, groups=n, flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


class FullyConnectedLayer(torch.nn.Module):
    """Dense layer with equalised learning rate (weights stored as N(0, 1/lr_multiplier^2))."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.lr_multiplier = lr_multiplier
        self.bias_init = bias_init
        self.weight = torch.nn.Parameter(torch.empty([out_features, in_features]))
        self.bias = torch.nn.Parameter(torch.empty([out_features])) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """NVIDIA's init: ``randn / lr_multiplier`` weights, constant ``bias_init`` bias."""
        self.weight.copy_(_randn(self.weight.shape, generator) / self.lr_multiplier)
        if self.bias is not None:
            self.bias.fill_(float(self.bias_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, act={self.activation}, lr_mult={self.lr_multiplier}"


class Conv2dLayer(torch.nn.Module):
    """Plain equalised-lr conv with optional FIR up-sampling (the 'resnet' skip path)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: Optional[float] = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.up = up
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = activation_gain(activation)
        self.weight = torch.nn.Parameter(torch.empty([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        self.weight.copy_(_randn(self.weight.shape, generator))
        if self.bias is not None:
            self.bias.zero_()

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, padding=self.padding, flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


__all__: List[str] = ["normalize_2nd_moment", "conv2d_resample", "modulated_conv2d", "FullyConnectedLayer", "Conv2dLayer"]
