"""Losses shared by the inversion methods: reconstruction (MSE + LPIPS) and PTI's locality term.

Every loss here returns one value *per image* ([N]) so that a batch can be optimised as the sum
of independent per-image losses: the gradient of image i's parameters then depends on image i
only, which is what makes a batched run equal to one-at-a-time runs.

The perceptual network is injectable (``perceptual='lpips_vgg' | 'lpips_alex' | 'none'``): the
real LPIPS backbones are fetched weights, and 'none' lets tests and weight-less machines run the
same code on MSE alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

from ..registry import Registry
from .configs import LocalityConfig  # noqa: F401  (re-exported: tests and plugins import it from here)

#: A perceptual distance: (x, y) in [-1, 1], [N, 3, H, W] -> [N]
Perceptual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: name -> factory(device) returning the distance module, or None for "no perceptual term"
PERCEPTUAL: Registry[Callable[[torch.device], Optional[Perceptual]]] = Registry("perceptual loss")

_cache: Dict[Tuple[str, str], Optional[Perceptual]] = {}


def _lpips_factory(net: str) -> Callable[[torch.device], Perceptual]:
    def make(device: torch.device) -> Perceptual:
        # Imported lazily: the LPIPS module needs fetched weights, MSE-only runs do not.
        from ..metrics.lpips_metric import get_lpips

        module = get_lpips(net, device)
        for p in module.parameters():
            p.requires_grad_(False)
        return module

    return make


PERCEPTUAL.add("lpips_vgg", _lpips_factory("vgg"))
PERCEPTUAL.add("lpips_alex", _lpips_factory("alex"))
PERCEPTUAL.add("none", lambda device: None)


def get_perceptual(name: str, device: torch.device | str) -> Optional[Perceptual]:
    """The perceptual distance ``name`` on ``device`` (cached: LPIPS is built once per process).

    Raises :class:`~gani_bench.errors.WeightsUnavailable` (from ``get_lpips``) when the LPIPS
    backbone weights are missing, with the download command in the message.
    """
    device = torch.device(device)
    key = (name, str(device))
    if key not in _cache:
        _cache[key] = PERCEPTUAL.get(name)(device)
    return _cache[key]


def per_image_mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each image: [N]. Equals ``torch.nn.MSELoss()`` for N = 1 (PTI's l2)."""
    return (x - y).square().flatten(1).mean(dim=1)


@dataclass
class LossTerms:
    """Per-image loss values ([N] each); ``total`` is what is optimised."""

    total: torch.Tensor
    mse: torch.Tensor
    perceptual: Optional[torch.Tensor]


def reconstruction_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    perceptual: Optional[Perceptual],
    *,
    mse_weight: float = 1.0,
    perceptual_weight: float = 1.0,
) -> LossTerms:
    """``mse_weight * MSE + perceptual_weight * LPIPS`` per image (PTI's ``calc_loss``)."""
    mse = per_image_mse(pred, target)
    total = mse_weight * mse
    lp = None
    if perceptual is not None and perceptual_weight != 0.0:
        lp = perceptual(pred, target).reshape(-1)
        total = total + perceptual_weight * lp
    return LossTerms(total=total, mse=mse, perceptual=lp)


def locality_latents(
    generator: torch.nn.Module,
    w_pivot: torch.Tensor,
    rng: torch.Generator,
    config: LocalityConfig,
) -> torch.Tensor:
    """Latents at distance ``alpha`` from the pivot towards random truncated samples.

    ``w_pivot`` is one image's [1, num_ws, w_dim]; returns [samples, num_ws, w_dim]. As in the
    authors' ``Space_Regulizer.get_morphed_w_code`` the norm is taken over the whole
    [num_ws, w_dim] tensor (so each of the num_ws copies moves alpha / sqrt(num_ws)).
    """
    z = torch.randn(
        [config.samples, generator.z_dim], generator=rng, device=rng.device
    ).to(w_pivot.device)
    with torch.no_grad():
        w_r = generator.mapping(z, None, truncation_psi=config.truncation)
    direction = w_r - w_pivot
    norm = direction.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, 1, 1)
    return (w_pivot + config.alpha * direction / norm).detach()


def locality_loss(
    tuned_images: torch.Tensor,
    original_images: torch.Tensor,
    perceptual: Optional[Perceptual],
    config: LocalityConfig,
) -> torch.Tensor:
    """Scalar: mean over the sampled latents of ``mse_w * MSE + lpips_w * LPIPS``."""
    terms = reconstruction_loss(
        tuned_images,
        original_images,
        perceptual,
        mse_weight=config.mse_weight,
        perceptual_weight=config.lpips_weight,
    )
    return terms.total.mean()
