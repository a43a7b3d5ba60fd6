"""The one W / W+ latent projection shared by SG2 (W, W+), PTI's pivot and GaNI's pivot.

The schedule is the StyleGAN2 projector's (Karras et al. 2020; NVIDIA stylegan2-ada-pytorch
``projector.py``): start at the mean w of ``w_avg_samples`` mapped z drawn with numpy
``RandomState(123)``; Adam (0.9, 0.999) on w and on the per-layer noise maps; learning rate with
a linear warm-up over the first ``lr_rampup`` fraction and a cosine ramp-down over the last
``lr_rampdown`` fraction; Gaussian noise on w of scale ``w_std * noise_factor *
max(0, 1 - t / noise_ramp)^2``; loss = perceptual distance (LPIPS-VGG16 on images down-sampled
to 256 px with area filtering when larger) + ``noise_reg_weight`` x multi-scale
autocorrelation of the noise maps; noise maps renormalised to mean 0 / std 1 after each step.

Batching: N targets are optimised together with the *sum* of per-image losses and per-image
random streams (image i draws everything from ``torch.Generator().manual_seed(seeds[i])``),
so every image's trajectory is the one it would have alone; Adam is element-wise, so the
shared optimiser does not couple images either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import StageTimer
from .configs import PivotConfig, ProjectionSettings  # noqa: F401  (PivotConfig re-exported)
from .losses import get_perceptual, per_image_mse

#: NVIDIA's projector resizes to this before the VGG16 features ("VGG was built for 224x224")
PERCEPTUAL_RESOLUTION = 256


@dataclass
class ProjectionOutput:
    #: [N, num_ws, w_dim]
    latents: torch.Tensor
    #: noise buffer name (as in ``G.named_buffers()``) -> [N, 1, H, W] optimised noise maps
    noise: Dict[str, torch.Tensor]
    #: per image, the loss value at each step
    loss_curves: List[List[float]]


def w_statistics(generator: torch.nn.Module, samples: int, device: torch.device) -> Tuple[torch.Tensor, float]:
    """Mean w ([1, 1, w_dim]) and the scalar std of ``samples`` mapped z, as NVIDIA computes them.

    NVIDIA draws z from ``np.random.RandomState(123)`` (fixed, independent of the run's seed) and
    does *not* use the ``mapping.w_avg`` buffer; we follow that exactly.
    """
    if samples < 1:
        raise ConfigError(f"projection: w_avg_samples must be >= 1, got {samples}")
    z = np.random.RandomState(123).randn(samples, generator.z_dim)
    chunks = []
    with torch.no_grad():
        for start in range(0, samples, 4096):
            zc = torch.from_numpy(z[start : start + 4096]).to(device=device, dtype=torch.float32)
            chunks.append(generator.mapping(zc, None)[:, :1, :].float())
    w = torch.cat(chunks)  # [S, 1, C]
    w_avg = w.mean(dim=0, keepdim=True)
    w_std = float(((w - w_avg).square().sum() / samples).sqrt())
    return w_avg, w_std


def noise_buffer_names(generator: torch.nn.Module) -> List[str]:
    """Names (as in ``G.named_buffers()``) of the per-layer constant noise maps, in order."""
    return [name for name, _ in generator.named_buffers() if name.endswith("noise_const")]


def noise_regularisation(noise: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-image multi-scale autocorrelation penalty of NVIDIA's projector: [N].

    For each map and each scale (halving by 2x2 average pooling until the side is <= 8) the
    squared mean of the map times itself shifted by one pixel, along both axes.
    """
    total: Optional[torch.Tensor] = None
    for v in noise.values():
        x = v
        while True:
            term = (x * torch.roll(x, shifts=1, dims=3)).mean(dim=(1, 2, 3)).square()
            term = term + (x * torch.roll(x, shifts=1, dims=2)).mean(dim=(1, 2, 3)).square()
            total = term if total is None else total + term
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    assert total is not None
    return total


def learning_rate(step: int, settings: ProjectionSettings) -> float:
    """NVIDIA's schedule: cosine ramp-down over the last part, linear warm-up over the first."""
    t = step / settings.steps
    ramp = min(1.0, (1.0 - t) / settings.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / settings.lr_rampup)
    return settings.lr * ramp


def latent_noise_scale(step: int, settings: ProjectionSettings, w_std: float) -> float:
    t = step / settings.steps
    return w_std * settings.noise_factor * max(0.0, 1.0 - t / settings.noise_ramp) ** 2


def _to_perceptual_resolution(images: torch.Tensor) -> torch.Tensor:
    # NVIDIA only down-samples (area filter); smaller images go to the network as they are.
    if images.shape[2] > PERCEPTUAL_RESOLUTION:
        images = F.interpolate(images, size=(PERCEPTUAL_RESOLUTION, PERCEPTUAL_RESOLUTION), mode="area")
    return images


def image_rngs(seeds: Sequence[int], device: torch.device) -> List[torch.Generator]:
    """One independent random stream per image (on the device, so CUDA draws stay on-device)."""
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


def project(
    generator: torch.nn.Module,
    targets: torch.Tensor,
    *,
    space: str = "w",
    settings: Optional[ProjectionSettings] = None,
    seeds: Optional[Sequence[int]] = None,
    seed: int = 0,
    timer: Optional[StageTimer] = None,
    stage: str = "project",
) -> ProjectionOutput:
    """Project ``targets`` ([N, 3, H, W] in [-1, 1]) into W (one w per image) or W+.

    ``seeds`` gives each image its own random stream; by default image i uses ``seed + i``.
    The generator is never modified (noise maps are passed as overrides to
    :func:`gani_bench.stylegan2.functional.synthesize`).
    """
    from ..stylegan2.functional import synthesize

    settings = settings or ProjectionSettings()
    if space not in ("w", "w+"):
        raise ConfigError(f"projection: space must be 'w' or 'w+', got {space!r}")
    if settings.steps < 1:
        raise ConfigError(f"projection: steps must be >= 1, got {settings.steps}")
    res = generator.img_resolution
    if targets.ndim != 4 or tuple(targets.shape[1:]) != (generator.img_channels, res, res):
        raise ConfigError(
            f"projection: targets have shape {tuple(targets.shape)} but the generator renders "
            f"[N, {generator.img_channels}, {res}, {res}]; resize the images to {res} px first"
        )
    device = targets.device
    n = targets.shape[0]
    seeds = list(seeds) if seeds is not None else [seed + i for i in range(n)]
    if len(seeds) != n:
        raise ConfigError(f"projection: got {len(seeds)} seeds for {n} targets")
    timer = timer or StageTimer(device)
    num_ws = generator.num_ws
    perceptual = get_perceptual(settings.perceptual, device)

    with timer.stage(stage):
        w_avg, w_std = w_statistics(generator, settings.w_avg_samples, device)
        rngs = image_rngs(seeds, device)
        target_p = _to_perceptual_resolution(targets.float()).detach()

        width = 1 if space == "w" else num_ws
        w_opt = w_avg.repeat(n, width, 1).clone().requires_grad_(True)
        buffers = dict(generator.named_buffers())
        noise: Dict[str, torch.Tensor] = {}
        # Without noise optimisation the generator's own constant noise is used, as in synthesis.
        for name in noise_buffer_names(generator) if settings.optimize_noise else []:
            shape = [1, 1, *buffers[name].shape]
            maps = [torch.randn(shape, generator=r, device=device) for r in rngs]
            noise[name] = torch.cat(maps).requires_grad_(True)
        params = [w_opt] + (list(noise.values()) if settings.optimize_noise else [])
        optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=settings.lr)
        curves: List[List[float]] = [[] for _ in range(n)]

        for step in range(settings.steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, settings)
            scale = latent_noise_scale(step, settings, w_std)
            w_noise = torch.cat([torch.randn(w_opt.shape[1:], generator=r, device=device)[None] for r in rngs])
            ws = w_opt + w_noise * scale
            if space == "w":
                ws = ws.repeat(1, num_ws, 1)
            images = synthesize(generator, ws, noise_mode="const", noise=noise or None)

            per_image = per_image_mse(images, targets) * settings.mse_weight
            if perceptual is not None:
                per_image = per_image + perceptual(_to_perceptual_resolution(images), target_p).reshape(-1)
            if settings.optimize_noise and settings.noise_reg_weight:
                per_image = per_image + settings.noise_reg_weight * noise_regularisation(noise)

            # autograd.grad: only the latents and noise maps get gradients, never G's parameters
            for p, g in zip(params, torch.autograd.grad(per_image.sum(), params)):
                p.grad = g
            optimizer.step()
            for i, value in enumerate(per_image.detach().cpu().tolist()):
                curves[i].append(float(value))

            if settings.optimize_noise:
                with torch.no_grad():
                    for buf in noise.values():
                        buf -= buf.mean(dim=(1, 2, 3), keepdim=True)
                        buf *= buf.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()

    latents = w_opt.detach()
    if space == "w":
        latents = latents.repeat(1, num_ws, 1)
    return ProjectionOutput(
        latents=latents,
        noise={k: v.detach() for k, v in noise.items()},
        loss_curves=curves,
    )
