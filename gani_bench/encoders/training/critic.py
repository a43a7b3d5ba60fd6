"""e4e's latent critic: an MLP telling encoder codes from mapping-network codes, plus code pools.

Parameter names follow the authors' ``LatentCodesDiscriminator(512, 4)`` (``mlp.0`` .. ``mlp.6``)
so its state dict is the one their checkpoints store under ``discriminator_state_dict``. The pool
(their ``LatentCodesPool``) returns, once full, a stored code instead of the new one with
probability 1/2, so the critic also sees older encoder outputs.
"""
from __future__ import annotations

import random
from typing import List

import torch
from torch import nn


class LatentCritic(nn.Module):
    def __init__(self, w_dim: int = 512, n_mlp: int = 4) -> None:
        super().__init__()
        layers: List[nn.Module] = []
        for _ in range(n_mlp - 1):
            layers += [nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(w_dim, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.mlp(w)


class LatentPool:
    """Pool of up to ``size`` codes; [N, w_dim] or [N, slots, w_dim] in, [N, w_dim] out."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.rng = rng
        self.codes: List[torch.Tensor] = []

    def query(self, ws: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return ws if ws.ndim == 2 else ws[:, 0]
        out = []
        for w in ws:
            if w.ndim == 2:  # one random slot of this sample
                w = w[self.rng.randint(0, len(w) - 1)]
            if len(self.codes) < self.size:
                self.codes.append(w)
                out.append(w)
            elif self.rng.uniform(0, 1) > 0.5:
                i = self.rng.randint(0, self.size - 1)
                out.append(self.codes[i].clone())
                self.codes[i] = w
            else:
                out.append(w)
        return torch.stack(out, 0)
