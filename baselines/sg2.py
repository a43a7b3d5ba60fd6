"""SG2 W and W+ optimisation: the StyleGAN2 projector as inversion baselines.

Both are thin configurations of the shared :func:`gani_bench.methods.projection.project`
(NVIDIA stylegan2-ada-pytorch ``projector.py`` schedule). Differences from SPEC.md, on purpose:

* peak learning rate 0.1, the value in NVIDIA's code (``initial_learning_rate=0.1``); SPEC.md's
  0.01 is the value in PTI's copy of the projector;
* W+ (one w per style input, 2000 steps) is not in NVIDIA's script: it is the same schedule
  with a [num_ws, w_dim] latent, as in HyperStyle's "SG2 W+" row;
* the optimised noise maps are returned with the result and used for the reconstruction
  (``keep_noise``): the StyleGAN2 paper optimises them as part of the projection, while
  NVIDIA's script drops them (it projects with a deep copy of G and re-renders with the
  original constant noise). ``keep_noise=false`` reproduces the script.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch

from gani_bench.methods.base import METHODS, InversionMethod, InversionResult, StageTimer, standard_presets
from gani_bench.methods.projection import ProjectionSettings, project


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


class _SG2Projection(InversionMethod):
    space: ClassVar[str] = "w"
    source = (
        "Karras et al. 2020 (StyleGAN2, sec. 5 projection); schedule and defaults from NVIDIA "
        "stylegan2-ada-pytorch projector.py"
    )

    def invert(self, generator: torch.nn.Module, targets: torch.Tensor, *, seed: int = 0) -> InversionResult:
        from gani_bench.stylegan2.functional import synthesize

        n = targets.shape[0]
        timer = StageTimer(targets.device)
        out = project(generator, targets, space=self.space, settings=self.config.settings(), seed=seed, timer=timer)
        noise = out.noise if (self.config.keep_noise and out.noise) else None
        with torch.no_grad():
            recon = synthesize(generator, out.latents, noise_mode="const", noise=noise)
        return InversionResult(
            latents=out.latents,
            latent_space=self.space,
            reconstruction=recon,
            weight_deltas=None,
            stage_seconds=timer.per_image(n),
            loss_curves=out.loss_curves,
            steps=[{"project": self.config.steps} for _ in range(n)],
            noise=noise,
        )


@METHODS.register("sg2_w")
class SG2W(_SG2Projection):
    name = "sg2_w"
    summary = "StyleGAN2 projector: optimise one w (and the noise maps), 600 steps"
    Config = SG2Config
    space = "w"
    presets = standard_presets(fast={"steps": 50}, mse_only=_MSE_ONLY)


@METHODS.register("sg2_wplus")
class SG2WPlus(_SG2Projection):
    name = "sg2_wplus"
    summary = "StyleGAN2 projector in W+: optimise num_ws style vectors (and the noise maps), 2000 steps"
    Config = SG2WPlusConfig
    space = "w+"
    presets = standard_presets(fast={"steps": 60}, mse_only=_MSE_ONLY)
