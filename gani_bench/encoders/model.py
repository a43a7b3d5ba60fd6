"""``InversionEncoder``: an encoder network plus ``latent_avg`` and the authors' inference rules.

``encode(images, generator=None)`` takes [N, 3, H, W] images in [-1, 1] at any size and returns
W+ latents [N, num_ws, w_dim] with ``latent_avg`` already added.

Resizing: the authors resize the PIL image to 256x256 (``transforms.Resize``, PIL bilinear,
which low-pass filters when shrinking) before ``ToTensor``/``Normalize(0.5, 0.5)``. For tensors
we use ``F.interpolate(mode="bilinear", antialias=True, align_corners=False)`` to the encoder's
``input_size``, the closest tensor equivalent (not bit-identical to PIL's 8-bit path); images
already at ``input_size`` pass through untouched.

ReStyle (6-channel encoders) needs the generator: iteration 0 reads the image rendered from
``latent_avg``, each iteration adds the encoder's residual to the previous latent and renders
it, pooled to the input size as their ``face_pool`` (adaptive average pooling; 1024 -> 256).
Rendering uses constant noise (their ``randomize_noise=False``).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .config import EncoderConfig
from .kinds import ENCODER_KINDS


def resize_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize [N, C, H, W] to size x size: bilinear with antialiasing (see the module docstring)."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def pool_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """The authors' ``face_pool`` (adaptive average pooling) when shrinking, bilinear when growing."""
    if images.shape[-1] >= size and images.shape[-2] >= size:
        return F.adaptive_avg_pool2d(images, (size, size))
    return resize_to(images, size)


class InversionEncoder(nn.Module):
    """Holds ``encoder`` (authors' parameter names) and ``latent_avg`` [num_ws, w_dim].

    ``state_dict()`` therefore has the authors' ``encoder.*`` keys (plus ``latent_avg``).
    """

    def __init__(self, config: EncoderConfig, latent_avg: Optional[torch.Tensor] = None) -> None:
        super().__init__()
        self.config = config
        self.kind = ENCODER_KINDS.get(config.kind)
        self.encoder = self.kind.network(config)
        avg = torch.zeros(config.num_ws, config.w_dim) if latent_avg is None else _as_slots(latent_avg, config)
        self.register_buffer("latent_avg", avg)

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def iterative(self) -> bool:
        return self.kind.iterative

    def base(self, n: int) -> torch.Tensor:
        if not self.config.start_from_latent_avg:
            return torch.zeros(n, self.num_ws, self.w_dim, device=self.latent_avg.device)
        return self.latent_avg.unsqueeze(0).expand(n, -1, -1)

    def encode(self, images: torch.Tensor, generator: Optional[nn.Module] = None, n_iters: Optional[int] = None,
               return_all: bool = False):
        """Latents [N, num_ws, w_dim] (``latent_avg`` added); see the module docstring.

        ``return_all=True`` (ReStyle) also returns the list of every iteration's latents.
        """
        x = resize_to(images, self.config.input_size)
        if not self.iterative:
            out = self.encoder(x) + self.base(x.shape[0])
            return (out, [out]) if return_all else out
        if generator is None:
            raise ConfigError(f"the {self.config.kind} encoder renders its current reconstruction at every iteration: "
                              "pass generator= (the generator it was trained with)")
        steps = self.config.n_iters if n_iters is None else int(n_iters)
        if steps < 1:
            raise ConfigError(f"n_iters must be at least 1, not {steps}")
        latent = self.base(x.shape[0])
        y_hat = self.render(generator, latent[:1]).expand(x.shape[0], -1, -1, -1)
        history = []
        for _ in range(steps):
            latent = latent + self.encoder(torch.cat([x, y_hat], dim=1))
            history.append(latent)
            y_hat = self.render(generator, latent)
        return (latent, history) if return_all else latent

    def render(self, generator: nn.Module, latent: torch.Tensor) -> torch.Tensor:
        """The generator's image of ``latent`` pooled to the input size (ReStyle's next input)."""
        img = generator.synthesis(latent, noise_mode="const")
        return pool_to(img, self.config.input_size)

    def forward(self, images: torch.Tensor, generator: Optional[nn.Module] = None) -> torch.Tensor:
        return self.encode(images, generator)

    def set_progressive_stage(self, stage: int) -> None:
        """e4e / ReStyle-e4e: train deltas 1..stage only (``num_ws`` or more = all)."""
        if hasattr(self.encoder, "progressive_stage"):
            self.encoder.progressive_stage = int(stage)


def _as_slots(latent_avg: torch.Tensor, cfg: EncoderConfig) -> torch.Tensor:
    """[w_dim], [1, w_dim] or [num_ws, w_dim] -> [num_ws, w_dim] (the authors store all three)."""
    t = latent_avg.detach().float()
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[-1] != cfg.w_dim or t.shape[0] not in (1, cfg.num_ws):
        raise ConfigError(f"latent_avg has shape {tuple(latent_avg.shape)}; expected [{cfg.w_dim}] or "
                          f"[{cfg.num_ws}, {cfg.w_dim}] for this {cfg.kind} encoder")
    return t.expand(cfg.num_ws, -1).clone()
