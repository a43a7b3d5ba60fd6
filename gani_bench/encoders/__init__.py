"""GAN-inversion encoders: pSp, e4e, ReStyle (pSp / e4e) and HyperStyle's W-encoder.

Public API::

    from gani_bench.encoders import load_encoder
    encoder, info = load_encoder("embedded-64-e4e")        # or a file path, or a weights name
    latents = encoder.encode(images, generator=None)       # [N, num_ws, w_dim], latent_avg added

See docs/encoders.md for the files, the small configuration and training.

``load_hyperstyle`` (HyperStyle's hypernetwork, which refines a W-encoder's inversion) lives in
:mod:`gani_bench.hyperstyle` and is re-exported here on first use: that package builds on this
one, so importing it eagerly would make the two import each other.
"""
from typing import Any

from .config import EncoderConfig, authors_config, num_ws_for_resolution, small_config
from .kinds import ENCODER_KINDS, EncoderKind
from .loading import EncoderInfo, check_encoder_generator, load_encoder, read_encoder_file, save_encoder
from .model import InversionEncoder, resize_to
from .networks import BackboneEncoder, Encoder4Editing, GradualStyleEncoder, ProgressiveBackboneEncoder, WEncoder
from .registry import DEMO_ENCODERS

__all__ = [
    "EncoderConfig", "authors_config", "small_config", "num_ws_for_resolution", "ENCODER_KINDS", "EncoderKind",
    "EncoderInfo", "load_encoder", "read_encoder_file", "save_encoder", "check_encoder_generator",
    "InversionEncoder", "resize_to", "GradualStyleEncoder", "Encoder4Editing", "BackboneEncoder",
    "ProgressiveBackboneEncoder", "WEncoder", "DEMO_ENCODERS", "load_hyperstyle",
]


def __getattr__(name: str) -> Any:
    if name == "load_hyperstyle":
        from ..hyperstyle import load_hyperstyle

        return load_hyperstyle
    raise AttributeError(f"module 'gani_bench.encoders' has no attribute {name!r}")
