"""Held-out reconstruction check: does an encoder beat the mean latent on renders it never saw?

Training on ``--synthetic N`` uses z indices 0..N-1 of the training seed; held-out images use a
different seed, so they are new draws from the same generator. The baseline is the image of
``latent_avg`` (what an encoder that learnt nothing would give).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .model import InversionEncoder
from .training.data import synthetic_latents

#: seed of the held-out renders (training runs use small seeds: 0 for the demo encoders)
HELDOUT_SEED = 987_654


@dataclass(frozen=True)
class HeldoutScore:
    encoder_mse: float
    latent_avg_mse: float
    count: int

    @property
    def improvement(self) -> float:
        """1 - encoder / latent_avg MSE (0 = no better than the mean latent, 1 = perfect)."""
        return 1.0 - self.encoder_mse / self.latent_avg_mse


@torch.no_grad()
def heldout_reconstruction(encoder: InversionEncoder, G: nn.Module, count: int = 32, seed: int = HELDOUT_SEED,
                           batch: int = 16) -> HeldoutScore:
    """Mean per-pixel MSE at the generator resolution of encode->render vs the latent_avg image."""
    enc_err, avg_err = [], []
    avg_img = G.synthesis(encoder.latent_avg[None].to(next(G.parameters()).device), noise_mode="const")
    for start in range(0, count, batch):
        idx = torch.arange(start, min(count, start + batch))
        x = G.synthesis(synthetic_latents(G, idx, seed), noise_mode="const").clamp(-1, 1)
        rec = G.synthesis(encoder.encode(x, generator=G), noise_mode="const")
        enc_err.append(F.mse_loss(rec, x, reduction="none").flatten(1).mean(1))
        avg_err.append(F.mse_loss(avg_img.expand_as(x), x, reduction="none").flatten(1).mean(1))
    return HeldoutScore(float(torch.cat(enc_err).mean()), float(torch.cat(avg_err).mean()), count)


