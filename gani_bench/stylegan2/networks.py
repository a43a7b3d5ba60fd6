"""The StyleGAN2 generator, parameter-for-parameter compatible with NVIDIA's.

Why a re-implementation instead of NVIDIA's module: their pickles embed their source and run
it on load (unsafe, and tied to their custom-op build system). This module computes the same
network with the same constructor arguments and the same parameter and buffer names
(``mapping.fc0.weight``, ``mapping.w_avg``, ``synthesis.b4.const``,
``synthesis.b8.conv0.affine.weight``, ``synthesis.b8.torgb.weight``, ...), so a state dict
taken from an NVIDIA ``Generator`` loads with ``strict=True`` and gives the same images (the
tests compare against tensors produced by NVIDIA's code).

Deliberate differences, all outside the numerics of a forward pass:

* ``MappingNetwork.forward`` updates ``w_avg`` only when called with ``update_emas=True``
  (NVIDIA's original updates it whenever the module is in training mode). Inversion code
  runs the generator in train mode for gradients and must not drift ``w_avg``.
* fp16 blocks (``num_fp16_res > 0``) run in fp16 only on CUDA; on CPU they run in fp32
  (CPU half-precision convs are slow or missing and the checkpoint is the same).
* Every layer has ``reset_parameters(generator)`` so a network can be (re)initialised from a
  private ``torch.Generator`` without touching the global RNG (used by the embedded
  generator); the constructor uses the global RNG exactly like NVIDIA's.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ..ops import bias_act, setup_filter, upsample2d
from ..ops.bias_act import activation_gain
from .layers import Conv2dLayer, FullyConnectedLayer, conv2d_resample, modulated_conv2d, normalize_2nd_moment

NOISE_MODES = ("random", "const", "none")
ARCHITECTURES = ("orig", "skip", "resnet")


class MappingNetwork(torch.nn.Module):
    """z (and optional label c) -> w, broadcast to ``num_ws`` copies, with optional truncation."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: Optional[int],
        num_layers: int = 8,
        embed_features: Optional[int] = None,
        layer_features: Optional[int] = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: Optional[float] = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: Optional[torch.Tensor],
        c: Optional[torch.Tensor] = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: Optional[int] = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"mapping: z must have shape [N, {self.z_dim}], got {None if z is None else tuple(z.shape)}")
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"mapping: c must have shape [N, {self.c_dim}], got {None if c is None else tuple(c.shape)}")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y

        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)

        if update_emas and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])

        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("mapping: truncation needs w_avg, but this network has w_avg_beta=None")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                head = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
                x = torch.cat([head, x[:, truncation_cutoff:]], dim=1)
        return x


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 conv (optionally up-sampling x2), noise, bias, lrelu, clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: Optional[float] = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = activation_gain(activation)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.empty([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.empty([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self._draw_own(None)

    @torch.no_grad()
    def _draw_own(self, generator: Optional[torch.Generator]) -> None:
        self.weight.copy_(torch.randn(list(self.weight.shape), generator=generator))
        if self.use_noise:
            self.noise_const.copy_(torch.randn(list(self.noise_const.shape), generator=generator))

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """NVIDIA's init: N(0,1) weight and noise_const, zero bias and noise strength."""
        self.affine.reset_parameters(generator)
        self._draw_own(generator)
        if self.use_noise:
            self.noise_strength.zero_()
        self.bias.zero_()

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool = True,
        gain: float = 1.0,
    ) -> torch.Tensor:
        """``noise_mode``: 'random' (fresh N(0,1) per call), 'const' (the ``noise_const``
        buffer, which callers may override through ``torch.func.functional_call``) or 'none'."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        in_res = self.resolution // self.up
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] != in_res or x.shape[3] != in_res:
            raise ValueError(f"SynthesisLayer: input {tuple(x.shape)} != [N, {self.in_channels}, {in_res}, {in_res}]")
        styles = self.affine(w)

        noise_in = None
        if self.use_noise:
            if noise_mode == "random":
                noise_in = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
            elif noise_mode == "const":
                noise_in = self.noise_const * self.noise_strength

        x = modulated_conv2d(x, self.weight, styles, noise=noise_in, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1), fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation (the output scale matters)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: Optional[float] = None, channels_last: bool = False) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.empty([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        with torch.no_grad():
            self.weight.normal_()

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        self.affine.reset_parameters(generator)
        self.weight.copy_(torch.randn(list(self.weight.shape), generator=generator))
        self.bias.zero_()

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(torch.nn.Module):
    """One resolution: [const or up-conv] + conv (+ ToRGB), with 'orig'/'skip'/'resnet' wiring."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: Optional[float] = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        **layer_kwargs: Any,
    ) -> None:
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2, resample_filter=resample_filter)

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """Re-draw this block's own tensors (const), then each child layer's, in a fixed order."""
        if self.in_channels == 0:
            self.const.copy_(torch.randn(list(self.const.shape), generator=generator))
        for name in ("conv0", "conv1", "torgb", "skip"):
            child = getattr(self, name, None)
            if child is not None:
                child.reset_parameters(generator)

    def forward(
        self,
        x: Optional[torch.Tensor],
        img: Optional[torch.Tensor],
        ws: torch.Tensor,
        force_fp32: bool = False,
        fused_modconv: Optional[bool] = None,
        noise_mode: str = "random",
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if ws.ndim != 3 or ws.shape[1] != self.num_conv + self.num_torgb or ws.shape[2] != self.w_dim:
            raise ValueError(f"b{self.resolution}: ws {tuple(ws.shape)} != [N, {self.num_conv + self.num_torgb}, {self.w_dim}]")
        w_iter = iter(ws.unbind(dim=1))
        device = ws.device
        use_half = self.use_fp16 and not force_fp32 and device.type == "cuda"
        dtype = torch.float16 if use_half else torch.float32
        memory_format = torch.channels_last if (self.channels_last and use_half) else torch.contiguous_format
        if fused_modconv is None:
            fused_modconv = (not self.training) and (dtype == torch.float32 or int(ws.shape[0]) == 1)
        kw = dict(fused_modconv=fused_modconv, noise_mode=noise_mode)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype, memory_format=memory_format)
            x = x.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), **kw)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, next(w_iter), **kw)
                x = self.conv1(x, next(w_iter), gain=math.sqrt(0.5), **kw)
                x = y + x
            else:
                x = self.conv0(x, next(w_iter), **kw)
                x = self.conv1(x, next(w_iter), **kw)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R] through blocks b4 ... bR."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        **block_kwargs: Any,
    ) -> None:
        if img_resolution < 4 or img_resolution & (img_resolution - 1) != 0:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(in_channels, channels[res], w_dim=w_dim, resolution=res, img_channels=img_channels,
                                   is_last=is_last, use_fp16=(res >= fp16_resolution), **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def block_ws_slices(self) -> List[Tuple[int, int, int]]:
        """(resolution, first ws index, count) per block: block b_R reads ws[:, i : i+count].

        Consecutive blocks overlap by one index because a block's ToRGB shares the w of the
        next block's first conv (NVIDIA's layout, hence num_ws = 2*log2(R) - 2).
        """
        out, idx = [], 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            out.append((res, idx, block.num_conv + block.num_torgb))
            idx += block.num_conv
        return out

    def forward(self, ws: torch.Tensor, **block_kwargs: Any) -> torch.Tensor:
        """``block_kwargs``: noise_mode, force_fp32, fused_modconv (passed to every block)."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"synthesis: ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        for res, start, count in self.block_ws_slices():
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, start, count), **block_kwargs)
        return img


class Generator(torch.nn.Module):
    """z -> image: MappingNetwork then SynthesisNetwork (NVIDIA's constructor and names)."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: Optional[Dict[str, Any]] = None,
        synthesis_kwargs: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        self.init_kwargs: Dict[str, Any] = dict(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            mapping_kwargs=copy.deepcopy(mapping_kwargs), synthesis_kwargs=copy.deepcopy(synthesis_kwargs),
        )
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """Re-draw every parameter and noise buffer with NVIDIA's init from ``generator``.

        Order is fixed (mapping embed, fc0.., then synthesis blocks low to high resolution), so
        one seed always gives the same network. ``w_avg`` is reset to zero.
        """
        mapping = self.mapping
        if mapping.c_dim > 0:
            mapping.embed.reset_parameters(generator)
        for idx in range(mapping.num_layers):
            getattr(mapping, f"fc{idx}").reset_parameters(generator)
        if hasattr(mapping, "w_avg"):
            mapping.w_avg.zero_()
        for res in self.synthesis.block_resolutions:
            getattr(self.synthesis, f"b{res}").reset_parameters(generator)

    def forward(
        self,
        z: torch.Tensor,
        c: Optional[torch.Tensor] = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: Optional[int] = None,
        update_emas: bool = False,
        **synthesis_kwargs: Any,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, **synthesis_kwargs)


__all__ = [
    "Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer",
    "FullyConnectedLayer", "Conv2dLayer", "modulated_conv2d", "conv2d_resample", "normalize_2nd_moment",
    "NOISE_MODES", "ARCHITECTURES",
]
