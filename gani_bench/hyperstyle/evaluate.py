"""Reconstruction error of HyperStyle per iteration count, against its W-encoder's (iteration 0).

Used by the demo model's test and docs: on held-out images, the refined reconstructions should
beat the W-encoder's, and more iterations should not make them worse.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from torch import nn

from ..methods.losses import per_image_mse
from .model import HyperStyle


@torch.no_grad()
def error_by_iteration(hs: HyperStyle, G: nn.Module, targets: torch.Tensor, n_iters: int = 5,
                       distance: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
                       batch: int = 8) -> Dict[int, float]:
    """Mean ``distance`` (default per-image MSE) between targets and reconstructions after
    0 (the W-encoder alone) .. ``n_iters`` refinement iterations, at the generator's resolution."""
    dist = distance or per_image_mse
    sums = torch.zeros(n_iters + 1, dtype=torch.float64)
    for chunk in targets.split(batch):
        latents = hs.encode(chunk, G)
        _, _, history = hs.invert(G, chunk, latents, n_iters=n_iters)
        for t, img in enumerate(history):
            sums[t] += dist(img.clamp(-1, 1), chunk).double().sum()
    return {t: float(v) / targets.shape[0] for t, v in enumerate(sums)}


__all__ = ["error_by_iteration"]
