"""PTI, Pivotal Tuning Inversion (Roich, Mokady, Bermano, Cohen-Or 2021).

Pivot: W projection (the shared :func:`~gani_bench.methods.projection.project`, PTI's 450 steps
and peak lr 0.01). Tuning: every synthesis parameter, as weight deltas, Adam lr 3e-4, up to 350
steps, loss ``1 * MSE + 1 * LPIPS(alex)`` at the pivot with the generator's constant noise,
stopping as soon as LPIPS <= 0.06. All defaults are the authors' ``configs/hyperparameters.py``.

The locality regulariser is off by default, as in the authors' code
(``use_locality_regularization = False``); the paper describes it as part of the method, so
``locality=true`` turns it on with the code's constants (alpha 30, truncation 0.5, lambdas 0.1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import METHODS, StageTimer, standard_presets
from .losses import LocalityConfig
from .projection import PivotConfig
from .stages import REFINEMENTS, restrict_presets
from .tuning import PivotTuningMethod, TuneOutcome, TuneSettings, TuningRefinement


@dataclass
class TuningFields:
    """Tuning-loss fields shared by PTI and GaNI (PTI's ``calc_loss`` and ``Space_Regulizer``)."""

    tune_steps: int = 350
    mse_weight: float = 1.0
    lpips_weight: float = 1.0
    #: perceptual term of the tuning loss ('lpips_alex' as PTI; 'none' = MSE only)
    perceptual: str = "lpips_alex"
    lpips_threshold: float = 0.06
    locality_alpha: float = 30.0
    locality_truncation: float = 0.5
    locality_mse_weight: float = 0.1
    locality_lpips_weight: float = 0.1
    locality_samples: int = 1
    locality_interval: int = 1

    def tune_settings(self, lr: float, locality_weight: float) -> TuneSettings:
        return TuneSettings(
            steps=self.tune_steps,
            lr=lr,
            mse_weight=self.mse_weight,
            lpips_weight=self.lpips_weight,
            lpips_threshold=self.lpips_threshold,
            locality_weight=locality_weight,
            locality_interval=self.locality_interval,
            locality=LocalityConfig(
                alpha=self.locality_alpha,
                truncation=self.locality_truncation,
                mse_weight=self.locality_mse_weight,
                lpips_weight=self.locality_lpips_weight,
                samples=self.locality_samples,
            ),
        )


@dataclass
class TuningConfig(TuningFields, PivotConfig):
    """Pivot + tuning fields (flat): the config layout of plain PTI and GaNI before refinement
    stages existed; kept for code that builds on it."""


@dataclass
class PTIRefineConfig(TuningFields):
    """The ``pti`` refinement stage's fields (everything of PTI but the pivot)."""

    tune_lr: float = 3e-4
    #: what is tuned (``functional.LAYER_SETS``); PTI optimises ``G.parameters()``, of which only
    #: the synthesis parameters receive gradients at a fixed pivot
    layers: str = "all_synthesis"
    #: PTI's locality regulariser (authors' code: off; paper: on)
    locality: bool = False


@dataclass
class PTIConfig(PTIRefineConfig, PivotConfig):
    """Plain PTI: pivot fields first, then the refinement's (the field order of earlier versions)."""


#: CPU demo / CI: short pivot and tuning (the 64 px embedded generator)
FAST = {"pivot_steps": 40, "tune_steps": 40, "tune_lr": 3e-3}
#: no LPIPS weights needed: MSE-only pivot and tuning (tests, machines without the backbones)
MSE_ONLY = {"pivot_perceptual": "none", "pivot_mse_weight": 1.0, "perceptual": "none"}


_SOURCE = "Roich et al. 2021 (arXiv 2106.05744); defaults from github.com/danielroich/PTI configs/hyperparameters.py"
_PRESETS = standard_presets(fast=FAST, mse_only=MSE_ONLY)


@REFINEMENTS.register("pti")
class PTIRefinement(TuningRefinement):
    """PTI's tuning from any embedding's latents (``e4e+pti``: GANInverter's ``--refine_mode pti``)."""

    name = "pti"
    summary = "PTI's tuning: all synthesis weights tuned on the image at the given latents"
    source = _SOURCE
    Config = PTIRefineConfig
    presets = restrict_presets(_PRESETS, PTIRefineConfig)

    def tune_one(
        self,
        generator: torch.nn.Module,
        pivot: torch.Tensor,
        target: torch.Tensor,
        rng: torch.Generator,
        timer: StageTimer,
    ) -> TuneOutcome:
        config: PTIConfig = self.config
        from ..stylegan2.functional import tunable_parameter_names, zero_deltas

        names = tunable_parameter_names(generator, config.layers)
        deltas = zero_deltas(generator, names, requires_grad=True)
        with timer.stage("tune"):
            return self.tune_with_config(
                generator,
                pivot,
                target,
                rng,
                params=list(deltas.values()),
                make_deltas=lambda: deltas,
                locality_weight=1.0 if config.locality else 0.0,
            )


@METHODS.register("pti")
class PTI(PivotTuningMethod):
    name = "pti"
    summary = "Pivotal Tuning: W pivot, then tune all synthesis weights on the image"
    source = _SOURCE
    Config = PTIConfig
    presets = _PRESETS
    tunes_generator = True
    refinement = PTIRefinement
