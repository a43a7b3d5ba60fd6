"""The W and W+ projection as embedding stages (``sg2_w``, ``sg2_wplus``).

Both run the shared :func:`~gani_bench.methods.projection.project` (NVIDIA's projector schedule)
with the settings of their config. ``sg2_w`` is also the pivot of plain PTI and GaNI: those
methods build it from their ``pivot_*`` fields (PTI's 450 steps, lr 0.01, 600 w_avg samples,
no noise kept) and label its time and steps ``pivot`` as they always have. The plain SG2
methods (``baselines/sg2.py``) are these stages on their own, labelled ``project``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Sequence

import torch

from .base import StageTimer, standard_presets
from .projection import PivotConfig, ProjectionSettings, project
from .stages import EMBEDDINGS, Embedding, EmbeddingStage


@dataclass
class SG2Config(ProjectionSettings):
    """The projection's settings (same fields, order and defaults as :class:`ProjectionSettings`)
    with SG2 W's 600-step budget, plus ``keep_noise``: one definition, so the baselines' knobs
    cannot drift from the projection's."""

    steps: int = 600
    #: reconstruct with the optimised noise maps (the paper) instead of G's constant noise (the script)
    keep_noise: bool = True

    def settings(self) -> ProjectionSettings:
        """The projection's own fields (everything but ``keep_noise``), as :func:`project` takes them."""
        return ProjectionSettings(**{f.name: getattr(self, f.name) for f in fields(ProjectionSettings)})


@dataclass
class SG2WPlusConfig(SG2Config):
    steps: int = 2000


_MSE_ONLY = {"perceptual": "none", "mse_weight": 1.0}
_SOURCE = ("Karras et al. 2020 (StyleGAN2, sec. 5 projection); schedule and defaults from NVIDIA "
           "stylegan2-ada-pytorch projector.py")


class ProjectionEmbedding(EmbeddingStage):
    """Optimise one w (``space='w'``) or num_ws of them (``'w+'``) and, by default, the noise maps."""

    space: ClassVar[str] = "w"
    label: ClassVar[str] = "project"
    source = _SOURCE

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
    name = "sg2_w"
    summary = "StyleGAN2 projector: optimise one w (and the noise maps), 600 steps"
    Config = SG2Config
    space = "w"
    presets = standard_presets(fast={"steps": 50}, mse_only=_MSE_ONLY)


@EMBEDDINGS.register("sg2_wplus")
class SG2WPlusEmbedding(ProjectionEmbedding):
    name = "sg2_wplus"
    summary = "StyleGAN2 projector in W+: optimise num_ws style vectors (and the noise maps), 2000 steps"
    Config = SG2WPlusConfig
    space = "w+"
    presets = standard_presets(fast={"steps": 60}, mse_only=_MSE_ONLY)


def pivot_embedding(config: PivotConfig) -> SG2WEmbedding:
    """PTI's / GaNI's pivot: the ``sg2_w`` stage with the ``pivot_*`` fields, labelled ``pivot``.

    The generator's constant noise is used afterwards (``keep_noise=False``): PTI tunes and
    renders with it, the optimised noise maps only serve the projection.
    """
    s = config.pivot_settings()
    sg2 = SG2Config(**{f.name: getattr(s, f.name) for f in fields(ProjectionSettings)}, keep_noise=False)
    return SG2WEmbedding(sg2, label="pivot")
