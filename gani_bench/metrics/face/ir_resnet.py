"""IR / IR-SE ResNet face-recognition backbones (ArcFace IR-SE50, CurricularFace IR-101).

Written for gani-bench from the architecture as described by InsightFace_Pytorch (TreB1eN), the
pSp/e4e/HyperStyle ``model_irse.py`` files and CurricularFace's ``backbone/model_irse.py``. The
attribute names below are part of the contract: they reproduce the parameter names of the
published checkpoints (``model_ir_se50.pth``, ``CurricularFace_Backbone.pth``), so those state
dicts load with ``torch.load(..., weights_only=True)`` and ``load_state_dict`` directly:

* ``input_layer.{0: Conv 3->64 3x3, 1: BatchNorm2d, 2: PReLU}``
* ``body.<i>`` one unit per residual block, with ``shortcut_layer`` (MaxPool2d(1, stride) when
  the width is unchanged, else ``{0: Conv 1x1, 1: BatchNorm2d}``) and ``res_layer.{0: BN,
  1: Conv 3x3, 2: PReLU, 3: Conv 3x3 stride, 4: BN[, 5: SE with fc1/fc2 1x1 convs]}``
* ``output_layer.{0: BatchNorm2d(512), 1: Dropout, 2: Flatten, 3: Linear(512*7*7, 512),
  4: BatchNorm1d(512)}`` - affine for ArcFace IR-SE50, not affine for CurricularFace IR-101.

The forward returns the L2-normalised 512-d embedding (inputs: 112x112 RGB in [-1, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

#: (depth, units) of the four stages; every stage starts with a stride-2 unit
STAGES = {
    50: ((64, 3), (128, 4), (256, 14), (512, 3)),
    100: ((64, 3), (128, 13), (256, 30), (512, 3)),
    152: ((64, 3), (128, 8), (256, 36), (512, 3)),
}


@dataclass(frozen=True)
class IRConfig:
    num_layers: int = 50
    #: squeeze-excitation in every unit ("ir_se") or not ("ir")
    se: bool = True
    #: whether the final BatchNorm1d has a learnt scale/shift (ArcFace yes, CurricularFace no)
    affine_output: bool = True
    input_size: int = 112
    drop_ratio: float = 0.4


class SqueezeExcite(nn.Module):
    """Channel gating: global average -> 1x1 conv (C/r) -> ReLU -> 1x1 conv (C) -> sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class IRUnit(nn.Module):
    """Improved-residual unit: BN-conv-PReLU-conv(stride)-BN[-SE] plus a (projected) shortcut."""

    def __init__(self, in_channels: int, depth: int, stride: int, se: bool) -> None:
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, 1, stride, bias=False), nn.BatchNorm2d(depth)
            )
        layers: List[nn.Module] = [
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if se:
            layers.append(SqueezeExcite(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def unit_plan(num_layers: int) -> List[Tuple[int, int, int]]:
    """(in_channels, depth, stride) of every unit, in ``body`` order."""
    if num_layers not in STAGES:
        raise ValueError(f"num_layers must be one of {sorted(STAGES)}, got {num_layers}")
    return stage_unit_plan(STAGES[num_layers], 64)


def stage_unit_plan(stages: Sequence[Tuple[int, int]], in_channels: int) -> List[Tuple[int, int, int]]:
    """(in_channels, depth, stride) of every unit for any ``(depth, units)`` stage list.

    The published networks use :data:`STAGES`; the GAN-inversion encoders also build narrower,
    shallower trunks from the same units (``gani_bench.encoders``), hence the general form.
    """
    plan: List[Tuple[int, int, int]] = []
    for depth, units in stages:
        plan.append((in_channels, depth, 2))
        plan.extend((depth, depth, 1) for _ in range(units - 1))
        in_channels = depth
    return plan


class IRBackbone(nn.Module):
    def __init__(self, config: IRConfig = IRConfig()) -> None:
        super().__init__()
        if config.input_size not in (112, 224):
            raise ValueError("input_size must be 112 or 224")
        self.config = config
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.body = nn.Sequential(*(IRUnit(i, d, s, config.se) for i, d, s in unit_plan(config.num_layers)))
        side = config.input_size // 16
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(config.drop_ratio),
            nn.Flatten(),
            nn.Linear(512 * side * side, 512),
            nn.BatchNorm1d(512, affine=config.affine_output),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


#: ArcFace IR-SE50 as used for the ID loss of pSp/e4e/HyperStyle (TreB1eN ``model_ir_se50.pth``)
ARCFACE_IR_SE50 = IRConfig(num_layers=50, se=True, affine_output=True, drop_ratio=0.6)
#: CurricularFace IR-101 as used for HyperStyle's ID evaluation (``CurricularFace_Backbone.pth``)
CURRICULARFACE_IR101 = IRConfig(num_layers=100, se=False, affine_output=False, drop_ratio=0.4)


def load_ir_state_dict(model: IRBackbone, state: dict, source: str) -> IRBackbone:
    """Load a published state dict, tolerating only absent ``num_batches_tracked`` buffers.

    Checkpoints saved by PyTorch < 0.4.1 lack those counters (they do not affect eval-mode
    outputs); anything else missing or unexpected means a different architecture.
    """
    from ...errors import CheckpointError

    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    name = f"IR-{model.config.num_layers}{'-SE' if model.config.se else ''}"
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: does not fit the {name} backbone (missing {missing[:3]}, unexpected {unexpected[:3]}); "
            "is it the right weights file?"
        )
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(
            f"{source}: tensor shapes do not fit the {name} backbone ({k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}); "
            "is it the right weights file?"
        )
    model.load_state_dict(state, strict=False)
    return model.eval()
