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

from dataclasses import dataclass
from typing import ClassVar

import torch

from gani_bench.methods.base import METHODS, InversionMethod, InversionResult, StageTimer
from gani_bench.methods.projection import ProjectionSettings, project


@dataclass
class SG2Config:
    steps: int = 600
    lr: float = 0.1
    w_avg_samples: int = 10_000
    noise_factor: float = 0.05
    noise_ramp: float = 0.75
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    noise_reg_weight: float = 1e5
    perceptual: str = "lpips_vgg"
    mse_weight: float = 0.0
    optimize_noise: bool = True
    keep_noise: bool = True

    def settings(self) -> ProjectionSettings:
        return ProjectionSettings(
            steps=self.steps,
            lr=self.lr,
            w_avg_samples=self.w_avg_samples,
            noise_factor=self.noise_factor,
            noise_ramp=self.noise_ramp,
            lr_rampup=self.lr_rampup,
            lr_rampdown=self.lr_rampdown,
            noise_reg_weight=self.noise_reg_weight,
            perceptual=self.perceptual,
            mse_weight=self.mse_weight,
            optimize_noise=self.optimize_noise,
        )


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
            stage_seconds={k: v / n for k, v in timer.seconds.items()},
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
    presets = {"paper": {}, "fast": {"steps": 50}, "fast_mse": {"steps": 50, **_MSE_ONLY}, "mse": _MSE_ONLY}


@METHODS.register("sg2_wplus")
class SG2WPlus(_SG2Projection):
    name = "sg2_wplus"
    summary = "StyleGAN2 projector in W+: optimise num_ws style vectors (and the noise maps), 2000 steps"
    Config = SG2WPlusConfig
    space = "w+"
    presets = {"paper": {}, "fast": {"steps": 60}, "fast_mse": {"steps": 60, **_MSE_ONLY}, "mse": _MSE_ONLY}
