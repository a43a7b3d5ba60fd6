"""MS-SSIM at 256 px with ``pytorch_msssim`` (images mapped from [-1, 1] to [0, 1], data range 1).

Why this and not HyperStyle's own code: HyperStyle's ``scripts/calc_losses_on_images.py`` scores
MS-SSIM with ``criteria/ms_ssim.py`` (jorge-pessoa/pytorch-msssim) on [-1, 1] tensors at 256 px,
one image per call. That implementation (a) guesses the data range from the *prediction's*
values (L = 2 when its minimum is below -0.5, else L = 1, so a bright reconstruction silently
switches constants), (b) averages the contrast term over the three channels before combining
the scales, and (c) does not clip negative per-scale values. ``pytorch_msssim.ms_ssim`` is the
widely used, deterministic implementation of Wang et al. (2003): 11-tap Gaussian (sigma 1.5),
5 scales with the standard weights, per-channel MS-SSIM averaged over channels, data range
fixed by the caller. We use it on [0, 1] images with data_range=1 (K1, K2 constants then match
the definition for 8-bit images scaled to [0, 1]). Expect small differences from HyperStyle's
printed values for that reason; the README states it.

Five scales need each side > 160 px, so smaller inputs are upsampled to 256 first (the shared
:func:`~gani_bench.metrics.base.resize_for_eval` does both directions).
"""
from __future__ import annotations

from typing import ClassVar, Tuple

import torch
from pytorch_msssim import ms_ssim

from .base import METRICS, ImageMetric, resize_for_eval


def ms_ssim_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MS-SSIM of [N, 3, H, W] images in [-1, 1] (H, W > 160), one value per image."""
    x = (pred.float() + 1.0) / 2.0
    y = (target.float() + 1.0) / 2.0
    return ms_ssim(x, y, data_range=1.0, size_average=False)


@METRICS.register("ms_ssim")
class MSSSIM(ImageMetric):
    name: ClassVar[str] = "ms_ssim"
    direction = "higher"
    weights: ClassVar[Tuple[str, ...]] = ()
    summary: ClassVar[str] = "MS-SSIM (pytorch_msssim, 5 scales) at 256 px on [0,1] images, data range 1"

    @torch.no_grad()
    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.to(self.device), target.to(self.device)
        return ms_ssim_per_image(resize_for_eval(pred), resize_for_eval(target))
