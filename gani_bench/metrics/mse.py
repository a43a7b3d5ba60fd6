"""Pixel metrics: MSE (the papers' "L2" column) and PSNR derived from it.

Both compare at :data:`~gani_bench.metrics.base.EVAL_RESOLUTION` (256 px) on [-1, 1] images,
as pSp/e4e/HyperStyle's ``calc_losses_on_images`` does (``torch.nn.MSELoss`` on
``Normalize(0.5, 0.5)`` tensors, one image at a time), so MSE here is directly comparable with
their L2 numbers.
"""
from __future__ import annotations

from typing import ClassVar, Tuple

import torch

from .base import METRICS, ImageMetric, resize_for_eval

#: peak-to-peak range of [-1, 1] images, the "MAX" of PSNR = 10 log10(MAX^2 / MSE)
DATA_RANGE = 2.0


def per_image_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over channels and pixels of (pred - target)^2, one value per image: [N]."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    diff = pred.float() - target.float()
    return diff.pow(2).flatten(1).mean(dim=1)


def psnr_from_mse(mse: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """PSNR in dB. Identical images (MSE 0) give +inf, which is the mathematically right value."""
    return 10.0 * torch.log10(torch.as_tensor(data_range**2, dtype=mse.dtype, device=mse.device) / mse)


@METRICS.register("mse")
class MSE(ImageMetric):
    name: ClassVar[str] = "mse"
    direction = "lower"
    weights: ClassVar[Tuple[str, ...]] = ()
    summary: ClassVar[str] = "mean squared error on [-1,1] images at 256 px (the papers' L2 column)"

    @torch.no_grad()
    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.to(self.device), target.to(self.device)
        return per_image_mse(resize_for_eval(pred.float()), resize_for_eval(target.float()))


@METRICS.register("psnr")
class PSNR(ImageMetric):
    name: ClassVar[str] = "psnr"
    direction = "higher"
    weights: ClassVar[Tuple[str, ...]] = ()
    summary: ClassVar[str] = "PSNR in dB from the 256 px MSE, data range 2 ([-1,1])"

    @torch.no_grad()
    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return psnr_from_mse(MSE(self.device).compute(pred, target))
