"""The W and W+ projection as embedding stages (``sg2_w``, ``sg2_wplus``).

Both run the shared :func:`~gani_bench.methods.projection.project` (NVIDIA's projector schedule)
with the settings of their config. ``sg2_w`` is also the pivot of plain PTI and GaNI: those
methods build it from their ``pivot_*`` fields (PTI's 450 steps, lr 0.01, 600 w_avg samples,
no noise kept) and label its time and steps ``pivot`` as they always have. The plain SG2
methods (``baselines/sg2.py``) are these stages on their own, labelled ``project``.
"""
from __future__ import annotations

from dataclasses import fields
from typing import ClassVar, Sequence

import torch

from .base import StageTimer
from .catalog import EMBEDDING_CARDS
from .configs import PivotConfig, ProjectionSettings, SG2Config, SG2WPlusConfig  # noqa: F401  (SG2*Config re-exported)
from .projection import project
from .stages import EMBEDDINGS, Embedding, EmbeddingStage


class ProjectionEmbedding(EmbeddingStage):
    """Optimise one w (``space='w'``) or num_ws of them (``'w+'``) and, by default, the noise maps."""

    space: ClassVar[str] = "w"
    label: ClassVar[str] = "project"

    def __init__(self, config: SG2Config = None, *, label: str = "") -> None:
        super().__init__(config)
        self.stage_label = label or self.label

    def embed(self, generator: torch.nn.Module, targets: torch.Tensor, *, seeds: Sequence[int],
              timer: StageTimer) -> Embedding:
        config: SG2Config = self.config
        out = project(generator, targets, space=self.space, settings=config.settings(), seeds=seeds, timer=timer,
                      stage=self.stage_label)
        noise = out.noise if (config.keep_noise and out.noise) else None
        return Embedding(latents=out.latents, latent_space=self.space, loss_curves=out.loss_curves,
                         steps=[{self.stage_label: config.steps} for _ in seeds], noise=noise)


@EMBEDDINGS.register("sg2_w")
class SG2WEmbedding(ProjectionEmbedding):
    card = EMBEDDING_CARDS.get("sg2_w")
    space = "w"


@EMBEDDINGS.register("sg2_wplus")
class SG2WPlusEmbedding(ProjectionEmbedding):
    card = EMBEDDING_CARDS.get("sg2_wplus")
    space = "w+"


def pivot_embedding(config: PivotConfig) -> SG2WEmbedding:
    """PTI's / GaNI's pivot: the ``sg2_w`` stage with the ``pivot_*`` fields, labelled ``pivot``.

    The generator's constant noise is used afterwards (``keep_noise=False``): PTI tunes and
    renders with it, the optimised noise maps only serve the projection.
    """
    s = config.pivot_settings()
    sg2 = SG2Config(**{f.name: getattr(s, f.name) for f in fields(ProjectionSettings)}, keep_noise=False)
    return SG2WEmbedding(sg2, label="pivot")
