"""Safe checkpoint loading: NVIDIA pickles, rosinality .pt, gani-bench .safetensors.

``load_checkpoint_file(path)`` is the entry point (``gani_bench.load_generator`` adds the
registered names on top, in ``gani_bench.generators``); nothing here ever executes code stored in
a checkpoint (restricted unpickler, ``torch.load(weights_only=True)``, safetensors).
"""
from __future__ import annotations

from .loader import FORMATS, CheckpointFormat, GeneratorInfo, load_checkpoint_file, sniff_format
from .native import load_generator_file, load_weight_deltas, save_generator, save_weight_deltas
from .rosinality import load_rosinality, save_rosinality, to_rosinality
from .state import state_fingerprint

__all__ = [
    "FORMATS", "CheckpointFormat", "GeneratorInfo", "load_checkpoint_file", "sniff_format",
    "load_generator_file", "load_weight_deltas", "save_generator", "save_weight_deltas",
    "load_rosinality", "save_rosinality", "to_rosinality", "state_fingerprint",
]
