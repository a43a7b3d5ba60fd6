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

import torch

from .base import METHODS, StageTimer
from .catalog import METHOD_CARDS, REFINEMENT_CARDS
# the configs and preset overrides live in configs.py (torch-free); re-exported under their old names
from .configs import MSE_ONLY, PTIConfig, PTIRefineConfig, TuningConfig, TuningFields  # noqa: F401
from .configs import PTI_FAST as FAST  # noqa: F401
from .stages import REFINEMENTS
from .tuning import PivotTuningMethod, TuneOutcome, TuningRefinement


@REFINEMENTS.register("pti")
class PTIRefinement(TuningRefinement):
    """PTI's tuning from any embedding's latents (``e4e+pti``: GANInverter's ``--refine_mode pti``)."""

    card = REFINEMENT_CARDS.get("pti")

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
    card = METHOD_CARDS.get("pti")
    refinement = PTIRefinement
