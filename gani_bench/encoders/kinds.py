"""``ENCODER_KINDS``: encoder kind name -> its network class and the authors' names for it.

Loading (``opts['encoder_type']``) and training (``gani-bench train KIND``) both look kinds up
here instead of branching on names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Type

from torch import nn

from ..registry import Registry
from .networks import BackboneEncoder, Encoder4Editing, GradualStyleEncoder, ProgressiveBackboneEncoder, WEncoder


@dataclass(frozen=True)
class EncoderKind:
    name: str
    network: Type[nn.Module]
    #: ``opts['encoder_type']`` values the authors' code uses for this network
    encoder_types: Tuple[str, ...]
    #: 3 (image) or 6 (image + current reconstruction: ReStyle)
    input_nc: int
    #: e4e-style w0 + deltas, trained progressively with the delta regulariser and latent critic
    progressive: bool
    #: the opts key that holds the generator resolution in the authors' files
    size_key: str
    description: str

    @property
    def iterative(self) -> bool:
        return self.input_nc == 6


ENCODER_KINDS: Registry[EncoderKind] = Registry("encoder kind")

for _kind in (
    EncoderKind("psp", GradualStyleEncoder, ("GradualStyleEncoder",), 3, False, "output_size",
                "pSp (Richardson et al. 2021): FPN over IR-SE50, one code per style slot"),
    EncoderKind("e4e", Encoder4Editing, ("Encoder4Editing",), 3, True, "stylegan_size",
                "e4e (Tov et al. 2021): pSp's FPN, w0 + per-slot deltas, progressive training"),
    EncoderKind("restyle_psp", BackboneEncoder, ("BackboneEncoder",), 6, False, "output_size",
                "ReStyle-pSp (Alaluf et al. 2021): iterative residual codes from the 16x16 map"),
    EncoderKind("restyle_e4e", ProgressiveBackboneEncoder, ("ProgressiveBackboneEncoder",), 6, True, "output_size",
                "ReStyle-e4e (Alaluf et al. 2021): iterative w0 + deltas from the 16x16 map"),
    EncoderKind("w_encoder", WEncoder, ("WEncoder", "SingleStyleCodeEncoder", "BackboneEncoderUsingLastLayerIntoW"), 3, False,
                "output_size",
                "HyperStyle's W-encoder (Alaluf et al. 2022): one w for every slot"),
):
    ENCODER_KINDS.add(_kind.name, _kind)


def kind_for_encoder_type(encoder_type: str) -> EncoderKind:
    for _, kind in ENCODER_KINDS.items():
        if encoder_type in kind.encoder_types:
            return kind
    known = ", ".join(t for _, k in ENCODER_KINDS.items() for t in k.encoder_types)
    from ..errors import CheckpointError

    raise CheckpointError(f"opts['encoder_type'] = {encoder_type!r} is not an encoder gani-bench implements; known: {known}")
