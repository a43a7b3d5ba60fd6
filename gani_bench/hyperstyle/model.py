"""``HyperStyle``: the hypernetwork, the generator layer names it writes, and its inversion.

Contract of the refinement (what the lead wires as the ``hyperstyle`` refinement stage):

``HyperStyle.invert(G, targets, initial_latents, n_iters=5) -> HyperStyleInversion``
    ``targets`` [N, 3, R, R] in [-1, 1] at the generator's resolution; ``initial_latents``
    [N, num_ws, w_dim] (the W-encoder's, or any embedding), kept fixed. Iteration 0 renders
    the latents with the original weights; iteration t feeds ``concat(x, y_hat_{t-1})``
    (both pooled to the hypernetwork's input size as the authors' ``face_pool`` does) to the
    hypernetwork and accumulates ``Delta_t = Delta_{t-1} + output``; the generator renders
    with ``W * (1 + Delta_t)`` per sample (constant noise, the authors' ``randomize_noise=False``).
    Returns ``(images, offsets, history)``: the final images [N, 3, R, R], the multiplicative
    offsets ``{generator parameter name: [N, out, in, k, k]}`` and every iteration's images
    (index 0 = the initial rendering). Differentiable; wrap in ``torch.no_grad()`` for inference.

:func:`offsets_to_weight_deltas` turns the multiplicative offsets into one additive
``weight_deltas`` dict per image (``W * Delta``, since ``W * (1 + Delta) = W + W * Delta``), the
form :class:`gani_bench.methods.base.InversionResult` carries for PTI and GaNI, so every edit
metric works on HyperStyle results unchanged.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
from torch import nn

from ..encoders.model import pool_to
from ..errors import ConfigError
from ..stylegan2.functional import synthesize, synthesize_batch_deltas
from .config import HyperNetConfig, check_fits
from .network import SharedWeightsHyperNetResNet


class HyperStyleInversion(NamedTuple):
    images: torch.Tensor
    offsets: Dict[str, torch.Tensor]
    history: List[torch.Tensor]


def default_layer_names(n_outputs: int) -> List[str]:
    """Generator parameter names per index for a StyleGAN2 with ``n_outputs`` modulated layers:
    ``synthesis.b4.conv1.weight``, ``synthesis.b4.torgb.weight``, then conv0, conv1, torgb per
    resolution (our ``Generator``'s names, the authors' index order)."""
    names = ["synthesis.b4.conv1.weight", "synthesis.b4.torgb.weight"]
    res = 8
    while len(names) < n_outputs:
        names += [f"synthesis.b{res}.{c}.weight" for c in ("conv0", "conv1", "torgb")]
        res *= 2
    return names[:n_outputs]


class HyperStyle(nn.Module):
    """Hypernetwork (``hypernet``, the authors' names) + layer names + optional W-encoder."""

    def __init__(self, config: HyperNetConfig, layer_names: Optional[Sequence[str]] = None,
                 latent_avg: Optional[torch.Tensor] = None, w_encoder: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.config = config
        self.hypernet = SharedWeightsHyperNetResNet(config)
        self.layer_names = list(layer_names) if layer_names is not None else default_layer_names(config.n_outputs)
        if len(self.layer_names) != config.n_outputs:
            raise ConfigError(f"layer_names has {len(self.layer_names)} names for {config.n_outputs} hypernetwork outputs")
        self.latent_avg = latent_avg
        self.w_encoder = w_encoder

    @property
    def tuned_names(self) -> List[str]:
        return [self.layer_names[i] for i in self.config.layers_to_tune]

    def fit(self, G: nn.Module, generator: str = "the generator", what: str = "this HyperStyle hypernetwork") -> "HyperStyle":
        """Check ``G`` has the layers this hypernetwork writes (one line naming both if not)
        and take its parameter names."""
        self.layer_names = check_fits(self.config, G, what, generator)
        return self

    def inputs(self, x: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        s = self.config.input_size
        return torch.cat([pool_to(x, s), pool_to(y_hat, s)], dim=1)

    def offsets(self, x: torch.Tensor, y_hat: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One hypernetwork pass: ``{parameter name: multiplicative offset [N, out, in, k, k]}``.

        ``x`` (targets) and ``y_hat`` (current reconstructions) are [N, 3, H, W] in [-1, 1]
        (256 px for the authors' layouts; other sizes are pooled / resized to the input size).
        """
        if x.shape != y_hat.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ConfigError(f"offsets(x, y_hat): both must be [N, 3, H, W] of one shape, got {tuple(x.shape)} and {tuple(y_hat.shape)}")
        outs = self.hypernet(self.inputs(x, y_hat))
        return {self.layer_names[i]: d for i, d in enumerate(outs) if d is not None}

    def render(self, G: nn.Module, latents: torch.Tensor, offsets: Optional[Dict[str, torch.Tensor]]) -> torch.Tensor:
        """``G`` at ``latents`` with ``W * (1 + offsets[i])`` for image i, constant noise. Through
        :func:`synthesize_batch_deltas`: one grouped pass on CUDA, a per-image loop on CPU
        (faster there, measured); both equal to float32 rounding."""
        if not offsets:
            return synthesize(G, latents, None, noise_mode="const")
        per_image = [{k: v[i] for k, v in offsets.items()} for i in range(latents.shape[0])]
        return synthesize_batch_deltas(G, latents, per_image, noise_mode="const", mode="mul")

    def invert(self, G: nn.Module, targets: torch.Tensor, initial_latents: torch.Tensor, n_iters: int = 5) -> HyperStyleInversion:
        """HyperStyle's iterative refinement at fixed latents (see the module docstring)."""
        if n_iters < 1:
            raise ConfigError(f"n_iters={n_iters}: HyperStyle needs at least 1 iteration (the authors use 5)")
        if initial_latents.ndim != 3 or initial_latents.shape[0] != targets.shape[0]:
            raise ConfigError(f"initial_latents {tuple(initial_latents.shape)} must be [N, num_ws, w_dim] with N = {targets.shape[0]} targets")
        images = self.render(G, initial_latents, None)
        history = [images]
        total: Dict[str, torch.Tensor] = {}
        for _ in range(n_iters):
            step = self.offsets(targets, images)
            total = {k: total[k] + v if k in total else v for k, v in step.items()}
            images = self.render(G, initial_latents, total)
            history.append(images)
        return HyperStyleInversion(images, total, history)

    def encode(self, targets: torch.Tensor, G: nn.Module) -> torch.Tensor:
        """The paired W-encoder's latents for ``targets`` (HyperStyle's first stage)."""
        if self.w_encoder is None:
            raise ConfigError("this HyperStyle has no W-encoder: pass w_encoder= to load_hyperstyle, or give initial_latents to invert()")
        return self.w_encoder.encode(targets, generator=G) if hasattr(self.w_encoder, "encode") else self.w_encoder(targets)


def offsets_to_weight_deltas(G: nn.Module, offsets: Dict[str, torch.Tensor]) -> List[Dict[str, torch.Tensor]]:
    """Per image ``{name: W * Delta[i]}``: additive deltas equal to HyperStyle's ``W * (1 + Delta)``."""
    params = dict(G.named_parameters())
    missing = [k for k in offsets if k not in params]
    if missing:
        raise ConfigError(f"offsets_to_weight_deltas: {missing[0]!r} is not a parameter of this generator")
    n = {int(v.shape[0]) for v in offsets.values()}
    if len(n) > 1:
        raise ConfigError(f"offsets_to_weight_deltas: offsets hold different batch sizes {sorted(n)}")
    count = n.pop() if n else 0
    return [{k: (params[k].detach() * v[i].detach()).to(params[k].dtype) for k, v in offsets.items()} for i in range(count)]


__all__ = ["HyperStyle", "HyperStyleInversion", "default_layer_names", "offsets_to_weight_deltas"]
