"""GAN-inversion encoders: pSp, e4e, ReStyle (pSp / e4e) and HyperStyle's W-encoder.

Public API::

    from gani_bench.encoders import load_encoder
    encoder, info = load_encoder("embedded-64-e4e")        # or a file path, or a weights name
    latents = encoder.encode(images, generator=None)       # [N, num_ws, w_dim], latent_avg added

See docs/encoders.md for the files, the small configuration and training.
"""
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
    "ProgressiveBackboneEncoder", "WEncoder", "DEMO_ENCODERS",
]
