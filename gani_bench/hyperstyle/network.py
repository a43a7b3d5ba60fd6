"""HyperStyle's hypernetwork, with the authors' module and parameter names.

Written from the facts of ``models/hypernetworks/`` in yuval-alaluf/hyperstyle (read, not
copied), so that the released state dicts (keys after ``hypernet.``) load with no name table:

* stem ``conv1`` (7x7, stride 2, no bias, ``input_nc`` -> 64), ``bn1``, ``relu`` = PReLU(64),
  no max-pool; ``body.0`` .. ``body.15`` = torchvision ResNet34 ``layer1..layer4`` BasicBlocks
  (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample.0/1``), output 512 x 16 x 16 at 256 px;
* ``shared_weight_hypernet`` (``SharedWeightsHypernet``: ``w1``, ``b1``, ``w2``, ``b2``), the same
  module also registered inside every ``HyperRefinementBlock`` as ``hypernet`` (so a state dict
  holds one copy per block);
* ``refinement_blocks.{i}`` for every tuned index: ``HyperRefinementBlock`` (``convs``,
  ``linear``, ``hypernet``) for the shared 512x512x3x3 layers, ``RefinementBlock`` (``convs``,
  ``output``) or ``RefinementBlockSeparable`` for the others, ``None`` for untuned ones.

The shared hypernet's kernel is the raw ``view`` of a ``[in, out * 9]`` matrix as
``[out, in, 3, 3]`` (no transpose): reproduced exactly, since the released weights only mean
what they mean under that memory order.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from ..stylegan2.layers import FullyConnectedLayer
from .config import HyperNetConfig, log2_int


class SharedWeightsHypernet(nn.Module):
    """Code ``z`` [N, z_dim] -> kernel offset [N, out, in, f, f] through two linear maps.

    ``h = view(z w2 + b2, [in, z_dim])``, ``k = h w1 + b1`` ([in, out*f*f]) viewed as
    ``[out, in, f, f]``. Init: the authors' ``fmod(randn / 40, 2)`` (without their ``.cuda()``).
    """

    def __init__(self, f_size: int = 3, z_dim: int = 512, out_size: int = 512, in_size: int = 512) -> None:
        super().__init__()
        self.f_size, self.z_dim, self.out_size, self.in_size = f_size, z_dim, out_size, in_size
        k = out_size * f_size * f_size
        self.w1 = nn.Parameter(torch.fmod(torch.randn(z_dim, k) / 40, 2))
        self.b1 = nn.Parameter(torch.fmod(torch.randn(k) / 40, 2))
        self.w2 = nn.Parameter(torch.fmod(torch.randn(z_dim, in_size * z_dim) / 40, 2))
        self.b2 = nn.Parameter(torch.fmod(torch.randn(in_size * z_dim) / 40, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        h = (z @ self.w2 + self.b2).view(n, self.in_size, self.z_dim)
        return (h @ self.w1 + self.b1).view(n, self.out_size, self.in_size, self.f_size, self.f_size)


def _conv_stack(n_in: int, inner: int, n_out: int, n_mid: int, first_stride: int) -> nn.Sequential:
    """conv(n_in->inner, first_stride), n_mid x conv(inner->inner, 2), conv(inner->n_out, 2);
    3x3, padding 1, each followed by LeakyReLU(0.01) (``nn.LeakyReLU()``'s default)."""
    mods: List[nn.Module] = [nn.Conv2d(n_in, inner, 3, stride=first_stride, padding=1), nn.LeakyReLU()]
    for _ in range(n_mid):
        mods += [nn.Conv2d(inner, inner, 3, stride=2, padding=1), nn.LeakyReLU()]
    mods += [nn.Conv2d(inner, n_out, 3, stride=2, padding=1), nn.LeakyReLU()]
    return nn.Sequential(*mods)


class HyperRefinementBlock(nn.Module):
    """Features -> code (stride-1 conv, then stride-2 convs down to 1x1, ``EqualLinear``) ->
    the shared hypernet's full kernel offset."""

    def __init__(self, hypernet: SharedWeightsHypernet, n_channels: int, inner_c: int, code_c: int, spatial: int) -> None:
        super().__init__()
        self.code_c = code_c
        self.convs = _conv_stack(n_channels, inner_c, code_c, log2_int(spatial) - 1, first_stride=1)
        self.linear = FullyConnectedLayer(code_c, code_c)  # = rosinality EqualLinear(lr_mul=1)
        self.hypernet = hypernet

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.hypernet(self.linear(self.convs(features).view(-1, self.code_c)))


class RefinementBlock(nn.Module):
    """Channel-wise offsets: [out, in] repeated over the 3x3 kernel (ToRGB: full 1x1 kernel)."""

    def __init__(self, layer: tuple, n_channels: int, inner_c: int, code_c: int, spatial: int) -> None:
        super().__init__()
        self.kernel_size, self.in_channels, self.out_channels = layer
        n_pools = log2_int(spatial) - 1 - (1 if self.kernel_size == 3 else 0)
        self.convs = _conv_stack(n_channels, inner_c, code_c, n_pools - 1, first_stride=2)
        head = nn.Conv2d(code_c, self.in_channels * self.out_channels, 1)
        self.output = nn.Sequential(head) if self.kernel_size == 1 else nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.output(self.convs(x))
        k = self.kernel_size
        if k == 1:
            return x.view(-1, self.out_channels, self.in_channels, 1, 1)
        x = x.view(-1, self.out_channels, self.in_channels)
        return x[..., None, None].expand(-1, -1, -1, k, k).contiguous()


class SeparableBlock(nn.Module):
    """The separable variant's head: outer product of an out-vector and an in-vector per kernel
    tap, then linear maps along the in and out axes (authors' ``SeparableBlock``)."""

    def __init__(self, input_size: int, kernel_channels_in: int, kernel_channels_out: int, kernel_size: int) -> None:
        super().__init__()
        self.input_size, self.kernel_size = input_size, kernel_size
        self.kernel_channels_in, self.kernel_channels_out = kernel_channels_in, kernel_channels_out
        self.make_kernel_in = nn.Linear(input_size, kernel_size * kernel_size * kernel_channels_in)
        self.make_kernel_out = nn.Linear(input_size, kernel_size * kernel_size * kernel_channels_out)
        self.kernel_linear_in = nn.Linear(kernel_channels_in, kernel_channels_in)
        self.kernel_linear_out = nn.Linear(kernel_channels_out, kernel_channels_out)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        f = features.view(-1, self.input_size)
        k = self.kernel_size
        k_in = self.make_kernel_in(f).view(-1, k, k, 1, self.kernel_channels_in)
        k_out = self.make_kernel_out(f).view(-1, k, k, self.kernel_channels_out, 1)
        kernel = self.kernel_linear_in(k_out @ k_in).permute(0, 1, 2, 4, 3)  # [N, k, k, in, out]
        return self.kernel_linear_out(kernel).permute(0, 4, 3, 1, 2)  # [N, out, in, k, k]


class RefinementBlockSeparable(nn.Module):
    """Separable variant of :class:`RefinementBlock` (convs down to 1x1, separable head)."""

    def __init__(self, layer: tuple, n_channels: int, inner_c: int, code_c: int, spatial: int) -> None:
        super().__init__()
        self.kernel_size, self.in_channels, self.out_channels = layer
        self.convs = _conv_stack(n_channels, inner_c, code_c, log2_int(spatial) - 2, first_stride=2)
        if self.kernel_size == 1:
            self.output = nn.Sequential(nn.Conv2d(code_c, self.in_channels * self.out_channels, 1))
        else:
            self.output = nn.Sequential(SeparableBlock(code_c, self.in_channels, self.out_channels, self.kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.output(self.convs(x))
        if self.kernel_size == 1:
            x = x.view(-1, self.out_channels, self.in_channels, 1, 1)
        return x


def _resnet_body(cfg: HyperNetConfig) -> nn.Sequential:
    """torchvision BasicBlocks in ResNet34's arrangement, flattened (``body.0`` ..)."""
    blocks: List[nn.Module] = []
    inplanes = cfg.stem_channels
    for stage, (planes, n) in enumerate(zip(cfg.stage_channels, cfg.stage_blocks)):
        for b in range(n):
            stride = 2 if (stage > 0 and b == 0) else 1
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
            blocks.append(BasicBlock(inplanes, planes, stride=stride, downsample=down))
            inplanes = planes
    body = nn.Sequential(*blocks)
    for m in body.modules():  # torchvision ResNet's own initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return body


class SharedWeightsHyperNetResNet(nn.Module):
    """6-channel input (image, current reconstruction) -> one offset per generator layer index
    (``None`` for untuned ones). ``config.separable`` gives ``SharedWeightsHyperNetResNetSeparable``."""

    def __init__(self, config: HyperNetConfig) -> None:
        super().__init__()
        self.config = config
        self.conv1 = nn.Conv2d(config.input_nc, config.stem_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(config.stem_channels)
        self.relu = nn.PReLU(config.stem_channels)
        self.body = _resnet_body(config)
        self.layers_to_tune = list(config.layers_to_tune)
        self.shared_layers = list(config.shared_layers)
        self.n_outputs = config.n_outputs
        self.shared_weight_hypernet = SharedWeightsHypernet(z_dim=config.code_channels, out_size=config.shared_size, in_size=config.shared_size)
        feat = config.stage_channels[-1]
        blocks: List[Optional[nn.Module]] = []
        other = RefinementBlockSeparable if config.separable else RefinementBlock
        for i, layer in enumerate(config.layers):
            if i not in self.layers_to_tune:
                blocks.append(None)
            elif i in self.shared_layers:
                blocks.append(HyperRefinementBlock(self.shared_weight_hypernet, feat, config.hyper_inner, config.code_channels, config.spatial))
            else:
                blocks.append(other(layer, feat, config.refine_inner, config.code_channels, config.spatial))
        self.refinement_blocks = nn.ModuleList(blocks)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> List[Optional[torch.Tensor]]:
        f = self.features(x)
        return [blk(f) if blk is not None else None for blk in self.refinement_blocks]


__all__ = ["SharedWeightsHypernet", "HyperRefinementBlock", "RefinementBlock", "RefinementBlockSeparable",
           "SeparableBlock", "SharedWeightsHyperNetResNet"]
