"""Seeded weights for the encoder faithfulness tests (shared with the scratch script that ran
the authors' code to produce ``tests/data/encoders/*_latents.pt``).

A 1024 px-layout encoder has 31-267 M parameters (up to ~1 GB), too big to commit, so each
tensor is regenerated from a seed derived from its *name* (order independent) with a scale that
keeps activations finite through the 24 IR-SE units: the committed key list (names and shapes
read from the authors' classes) plus this recipe give the same weights on both sides.
"""
from __future__ import annotations

import zlib
from typing import Dict, List, Tuple

import torch

BASE_SEED = 20240607


def seeded_tensor(name: str, shape: Tuple[int, ...], base_seed: int = BASE_SEED) -> torch.Tensor:
    g = torch.Generator().manual_seed(base_seed + zlib.crc32(name.encode()))
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.long)
    r = torch.randn(shape, generator=g)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return 1.0 + 0.1 * r.abs()
    if leaf in ("running_mean", "bias"):
        return 0.1 * r
    if len(shape) == 1 and leaf == "weight":  # BatchNorm scale or PReLU slope
        return (0.25 if ".2." in f".{name}" and "input_layer" in name else 1.0) + 0.05 * r
    if len(shape) == 4:  # conv kernels: He-like scale, so the residual stack stays finite
        fan_in = shape[1] * shape[2] * shape[3]
        return r / fan_in ** 0.5
    return r  # EqualLinear weights: stored unscaled, 1/sqrt(in) applied at run time


def build_state(keys: List[Tuple[str, Tuple[int, ...]]]) -> Dict[str, torch.Tensor]:
    return {k: seeded_tensor(k, tuple(s)) for k, s in keys}


def seeded_input(n: int, channels: int, size: int = 256, seed: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.5 * torch.randn(n, channels, size, size, generator=g)).clamp(-1, 1)


def seeded_latent_avg(num_ws: int, w_dim: int = 512, seed: int = 11) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(num_ws, w_dim, generator=g)
