"""The encoder networks of pSp, e4e, ReStyle and HyperStyle, written from their papers' code.

Attribute names reproduce the authors' parameter names (the part after ``encoder.`` in their
checkpoint files), so a released state dict loads with ``load_state_dict`` and no name table:
``input_layer.{0,1,2}``, ``body.N.res_layer.*`` / ``body.N.shortcut_layer.*`` (the IR-SE units
of :mod:`gani_bench.metrics.face.ir_resnet`, shared with the ID metric), ``styles.i.convs.*``,
``styles.i.linear.{weight,bias}``, ``latlayer1/2`` and (W-encoder) ``linear``.

Every ``forward`` returns the *raw* code [N, num_ws, w_dim]: the offset from ``latent_avg``
(pSp, e4e, W-encoder, ReStyle's first iteration) or from the previous iteration's latent
(ReStyle). Adding that base is the job of :class:`gani_bench.encoders.model.InversionEncoder`.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics.face.ir_resnet import IRUnit, stage_unit_plan
from ..stylegan2.layers import FullyConnectedLayer
from .config import EncoderConfig


def build_trunk(cfg: EncoderConfig) -> Tuple[nn.Sequential, nn.Sequential]:
    """``(input_layer, body)``: 3x3 conv (no bias) + BN + PReLU, then the IR(-SE) units."""
    width = cfg.stages[0][0]
    input_layer = nn.Sequential(nn.Conv2d(cfg.input_nc, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width))
    body = nn.Sequential(*(IRUnit(i, d, s, cfg.se) for i, d, s in stage_unit_plan(cfg.stages, width)))
    return input_layer, body


def stage_ends(cfg: EncoderConfig) -> List[int]:
    """Index in ``body`` of the last unit of each stage (authors' IR-SE50: 2, 6, 20, 23)."""
    ends, n = [], 0
    for _, units in cfg.stages:
        n += units
        ends.append(n - 1)
    return ends


class GradualStyleBlock(nn.Module):
    """log2(spatial) stride-2 3x3 convs (+ LeakyReLU 0.01) down to 1x1, then an equalised linear."""

    def __init__(self, in_c: int, out_c: int, spatial: int, out_dim: int) -> None:
        super().__init__()
        self.out_c = out_c
        layers: List[nn.Module] = []
        for i in range(max(1, int(math.log2(spatial)))):
            layers += [nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, 2, 1), nn.LeakyReLU(0.01)]
        self.convs = nn.Sequential(*layers)
        self.linear = FullyConnectedLayer(out_c, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.out_c))


def upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN merge: bilinear (align_corners=True) resize of ``x`` to ``y``'s size, plus ``y``."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


class _TrunkEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.config = cfg
        self.style_count = cfg.num_ws
        self.input_layer, self.body = build_trunk(cfg)


class _FPNEncoder(_TrunkEncoder):
    """Trunk + feature pyramid + one GradualStyleBlock per slot (pSp / e4e)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__(cfg)
        c, s = cfg.trunk_channels, cfg.input_size
        self.styles = nn.ModuleList(
            GradualStyleBlock(c, cfg.style_channels, s // 16 if i < cfg.coarse_ind else s // 8 if i < cfg.middle_ind else s // 4,
                              cfg.w_dim)
            for i in range(cfg.num_ws))
        self.latlayer1 = nn.Conv2d(cfg.stages[2][0], c, 1, 1, 0)
        self.latlayer2 = nn.Conv2d(cfg.stages[1][0], c, 1, 1, 0)
        self._taps = stage_ends(cfg)[1:]

    def features(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.input_layer(x)
        taps = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self._taps:
                taps.append(x)
        return taps[0], taps[1], taps[2]


class GradualStyleEncoder(_FPNEncoder):
    """pSp: coarse slots from c3, middle from p2 = c3 (+) c2, fine from p1 = p2 (+) c1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.features(x)
        cfg = self.config
        p2 = upsample_add(c3, self.latlayer1(c2))
        p1 = upsample_add(p2, self.latlayer2(c1))
        maps = [c3 if i < cfg.coarse_ind else p2 if i < cfg.middle_ind else p1 for i in range(self.style_count)]
        return torch.stack([style(m) for style, m in zip(self.styles, maps)], dim=1)


class Encoder4Editing(_FPNEncoder):
    """e4e: w0 from style 0 repeated to every slot; slot i += delta_i for i = 1 .. progressive_stage.

    ``progressive_stage`` = ``num_ws`` (or more) is the authors' ``Inference`` stage: all deltas.
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__(cfg)
        self.progressive_stage = cfg.num_ws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.features(x)
        cfg = self.config
        w0 = self.styles[0](c3)
        deltas = [torch.zeros_like(w0)]
        features = c3
        for i in range(1, min(self.progressive_stage + 1, self.style_count)):
            if i == cfg.coarse_ind:
                p2 = upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == cfg.middle_ind:
                features = upsample_add(p2, self.latlayer2(c1))
            deltas.append(self.styles[i](features))
        deltas += [torch.zeros_like(w0)] * (self.style_count - len(deltas))
        return w0.unsqueeze(1) + torch.stack(deltas, dim=1)


class _BackboneEncoder(_TrunkEncoder):
    """ReStyle: every slot's GradualStyleBlock reads the final (input/16) map; no FPN."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__(cfg)
        self.styles = nn.ModuleList(
            GradualStyleBlock(cfg.trunk_channels, cfg.style_channels, cfg.input_size // 16, cfg.w_dim)
            for _ in range(cfg.num_ws))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.input_layer(x))


class BackboneEncoder(_BackboneEncoder):
    """ReStyle-pSp: one independent code per slot."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trunk(x)
        return torch.stack([style(x) for style in self.styles], dim=1)


class ProgressiveBackboneEncoder(_BackboneEncoder):
    """ReStyle-e4e: w0 + per-slot deltas (progressive stage as in :class:`Encoder4Editing`)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__(cfg)
        self.progressive_stage = cfg.num_ws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trunk(x)
        w0 = self.styles[0](x)
        n = min(self.progressive_stage + 1, self.style_count)
        deltas = [torch.zeros_like(w0)] + [self.styles[i](x) for i in range(1, n)]
        deltas += [torch.zeros_like(w0)] * (self.style_count - n)
        return w0.unsqueeze(1) + torch.stack(deltas, dim=1)


class WEncoder(_TrunkEncoder):
    """HyperStyle's W-encoder: trunk, global average pool, equalised linear; one w for every slot."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__(cfg)
        self.output_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = FullyConnectedLayer(cfg.trunk_channels, cfg.w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.output_pool(self.body(self.input_layer(x))).flatten(1)
        return self.linear(x).unsqueeze(1).expand(-1, self.style_count, -1)
