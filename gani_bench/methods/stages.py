"""The two stages every inversion method is made of: an embedding and an optional refinement.

GANInverter (caopulan/GANInverter) splits inversion into *image embedding* (an encoder or a
latent optimisation) and *result refinement* (generator tuning, ...) and lets any embedding feed
any refinement (``--embed_mode e4e --refine_mode pti``). gani-bench does the same:

* an :class:`EmbeddingStage` maps targets to latents (``sg2_w``, ``sg2_wplus``, ``e4e``, ...);
* a :class:`RefinementStage` starts from those latents and changes the generator's weights
  (``pti``, ``gani``, ``hyperstyle``) or the latents;
* :func:`run_stages` runs one after the other with one :class:`StageTimer`, so the stages'
  seconds stay separate in ``InversionResult.stage_seconds``.

Stages register in :data:`EMBEDDINGS` / :data:`REFINEMENTS`; ``methods/compose.py`` turns a
pair into an ``InversionMethod`` named ``embedding+refinement``. A stage has the same shape as a
method: a dataclass ``Config`` (paper defaults), ``presets`` and a one-line ``summary``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence

import torch

from ..registry import Registry
from .base import Configured, InversionResult, StageTimer
from .configs import restrict_presets

#: a callable images [N, 3, H, W] -> latents [N, num_ws, w_dim] (what LEC re-encodes with)
Encoder = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Embedding:
    """What an embedding stage hands to a refinement (and to the result when there is none)."""

    #: [N, num_ws, w_dim]
    latents: torch.Tensor
    #: "w" or "w+"
    latent_space: str
    #: per image: loss per step (empty lists for encoders)
    loss_curves: List[List[float]]
    #: per image: {stage: steps}
    steps: List[Dict[str, int]]
    #: noise maps the embedding's own reconstruction uses (name -> [N, ...]); None = G's constant noise
    noise: Optional[Dict[str, torch.Tensor]] = None
    #: the encoder that produced the latents (None for optimisation); LEC re-encodes with it
    encoder: Optional[Encoder] = None


@dataclass
class Refinement:
    """What a refinement stage returns for a batch."""

    #: [N, 3, H, W] rendered from the final latents and weights (generator's constant noise)
    reconstruction: torch.Tensor
    #: additive per-image weight deltas (``Generator.named_parameters()`` names), or None
    weight_deltas: Optional[List[Dict[str, torch.Tensor]]]
    loss_curves: List[List[float]]
    steps: List[Dict[str, int]]
    #: final latents when the refinement changes them; None = the embedding's latents
    latents: Optional[torch.Tensor] = None


class Stage(Configured):
    """Common shape of both stage kinds: card, Config, presets and summary as a method has them
    (:class:`~gani_bench.methods.base.Configured`)."""

    role: ClassVar[str] = "stage"

    @classmethod
    def available_for(cls, generator: str) -> Optional[str]:
        """None if the stage runs on ``generator`` with its defaults (``--method all`` runs it), else why not."""
        return None


class EmbeddingStage(Stage):
    """Targets -> latents. ``label`` names its entry in ``stage_seconds`` and ``steps``."""

    label: ClassVar[str] = "embed"

    def embed(self, generator: torch.nn.Module, targets: torch.Tensor, *, seeds: Sequence[int],
              timer: StageTimer) -> Embedding:
        raise NotImplementedError


class RefinementStage(Stage):
    """Targets + an :class:`Embedding` -> reconstruction (and weight deltas)."""

    tunes_generator: ClassVar[bool] = True
    label: ClassVar[str] = "refine"

    def refine(self, generator: torch.nn.Module, targets: torch.Tensor, embedding: Embedding, *,
               seeds: Sequence[int], timer: StageTimer) -> Refinement:
        raise NotImplementedError


EMBEDDINGS: Registry[type] = Registry("embedding")
REFINEMENTS: Registry[type] = Registry("refinement")


def image_seeds(seed: int, n: int) -> List[int]:
    """Image i of a batch uses ``seed + i`` (so a batch equals one-at-a-time calls)."""
    return [seed + i for i in range(n)]


def run_stages(embedding: EmbeddingStage, refinement: Optional[RefinementStage], generator: torch.nn.Module,
               targets: torch.Tensor, seed: int) -> InversionResult:
    """Embed, then refine (if any); one timer, so each stage's seconds stay separate."""
    from ..stylegan2.functional import synthesize

    n = targets.shape[0]
    seeds = image_seeds(seed, n)
    timer = StageTimer(targets.device)
    emb = embedding.embed(generator, targets, seeds=seeds, timer=timer)
    if refinement is None:
        with torch.no_grad():
            recon = synthesize(generator, emb.latents, noise_mode="const", noise=emb.noise)
        return InversionResult(latents=emb.latents, latent_space=emb.latent_space, reconstruction=recon,
                               weight_deltas=None, stage_seconds=timer.per_image(n), loss_curves=emb.loss_curves,
                               steps=emb.steps, noise=emb.noise, encoder=emb.encoder)
    ref = refinement.refine(generator, targets, emb, seeds=seeds, timer=timer)
    return InversionResult(
        latents=emb.latents if ref.latents is None else ref.latents,
        latent_space=emb.latent_space,
        reconstruction=ref.reconstruction,
        weight_deltas=ref.weight_deltas,
        stage_seconds=timer.per_image(n),
        loss_curves=[list(a) + list(b) for a, b in zip(emb.loss_curves, ref.loss_curves)],
        steps=[{**a, **b} for a, b in zip(emb.steps, ref.steps)],
        encoder=emb.encoder,
    )


def stage_config(config: Any, config_cls: type) -> Any:
    """The ``config_cls`` part of a flat method config (a method whose Config holds both stages' fields)."""
    import dataclasses

    return config_cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config_cls)})


__all__ = ["Embedding", "Refinement", "Stage", "EmbeddingStage", "RefinementStage", "EMBEDDINGS", "REFINEMENTS",
           "run_stages", "image_seeds", "stage_config", "restrict_presets"]
