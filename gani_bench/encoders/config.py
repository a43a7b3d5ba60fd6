"""Sizes of an inversion encoder: the authors' 1024 px layout by default, or a small one.

One dataclass describes every encoder kind (pSp, e4e, ReStyle-pSp, ReStyle-e4e, W-encoder), so
the same classes serve the released FFHQ files (IR-SE50 trunk, 512-wide heads, 18 style slots,
256 px input) and a CPU-sized encoder for a small generator such as ``embedded-64``
(:func:`small_config`: fewer and narrower units and heads, ``num_ws``/``w_dim`` from the generator).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Mapping, Tuple

#: IR-SE50 stages of the authors' encoders: (depth, units); the first unit of each has stride 2
IR_SE50_STAGES: Tuple[Tuple[int, int], ...] = ((64, 3), (128, 4), (256, 14), (512, 3))
#: the small trunk used for 64 px generators on a CPU (same unit type, 5 units instead of 24)
SMALL_STAGES: Tuple[Tuple[int, int], ...] = ((16, 1), (32, 1), (64, 2), (128, 1))
#: width of the small map-to-style convolutions (keeps a 10-slot encoder near 1 M parameters)
SMALL_STYLE_CHANNELS = 32


def num_ws_for_resolution(resolution: int) -> int:
    """Style slots of a StyleGAN2 generator of this resolution (18 at 1024, as the authors' code)."""
    return 2 * int(math.log2(resolution)) - 2


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of one encoder (see :data:`gani_bench.encoders.ENCODER_KINDS` for ``kind``)."""

    kind: str = "e4e"
    num_ws: int = 18
    w_dim: int = 512
    #: the encoder's input side; images of any size are resized to it (authors: 256)
    input_size: int = 256
    #: channels the encoder reads: 3, or 6 for ReStyle (image + current reconstruction)
    input_nc: int = 3
    #: (depth, units) per trunk stage; the FPN taps the last unit of stages 2, 3 and 4
    stages: Tuple[Tuple[int, int], ...] = field(default=IR_SE50_STAGES)
    #: width of the map-to-style convolutions (authors: 512)
    style_channels: int = 512
    #: squeeze-excitation in every unit (authors: ``ir_se``)
    se: bool = True
    #: style slots below ``coarse_ind`` read the coarsest map, below ``middle_ind`` the middle one
    coarse_ind: int = 3
    middle_ind: int = 7
    #: ReStyle iterations at inference (authors' ``n_iters_per_batch``: 5)
    n_iters: int = 5
    #: whether ``latent_avg`` is added to the encoder output (released models: yes)
    start_from_latent_avg: bool = True

    def __post_init__(self) -> None:
        if len(self.stages) != 4:
            raise ValueError("EncoderConfig.stages needs exactly 4 (depth, units) stages")
        if self.input_size % 16:
            raise ValueError(f"EncoderConfig.input_size must be a multiple of 16, not {self.input_size}")

    @property
    def trunk_channels(self) -> int:
        return self.stages[-1][0]

    def as_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["stages"] = [list(s) for s in self.stages]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EncoderConfig":
        d = dict(d)
        if "stages" in d:
            d["stages"] = tuple(tuple(int(v) for v in s) for s in d["stages"])
        return cls(**d)

    def with_(self, **changes: Any) -> "EncoderConfig":
        return replace(self, **changes)


def authors_config(kind: str, resolution: int = 1024, **changes: Any) -> EncoderConfig:
    """The released layout for ``kind`` with a generator of ``resolution`` px (w_dim 512)."""
    from .kinds import ENCODER_KINDS

    spec = ENCODER_KINDS.get(kind)
    return EncoderConfig(kind=kind, num_ws=num_ws_for_resolution(resolution), input_nc=spec.input_nc).with_(**changes)


def small_config(kind: str, num_ws: int, w_dim: int, input_size: int = 64, **changes: Any) -> EncoderConfig:
    """A CPU-sized encoder for a small generator (``num_ws``/``w_dim`` taken from it)."""
    from .kinds import ENCODER_KINDS

    spec = ENCODER_KINDS.get(kind)
    return EncoderConfig(kind=kind, num_ws=num_ws, w_dim=w_dim, input_size=input_size, input_nc=spec.input_nc,
                         stages=SMALL_STAGES, style_channels=SMALL_STYLE_CHANNELS).with_(**changes)
