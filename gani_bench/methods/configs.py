"""Every built-in method's and stage's config dataclass and preset overrides, without torch.

Why a module of its own: ``gani-bench methods list``, ``--set`` validation and the method
catalogue (:mod:`gani_bench.methods.catalog`) need the fields, defaults and presets, and
importing torch for them costs more than a second. The implementations (``projection.py``,
``pti.py``, ``gani.py``, ...) import their configs from here; nothing here imports torch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Optional, Tuple


def standard_presets(fast: Mapping[str, Any], mse_only: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The four presets every built-in method offers, built from its two override sets.

    ``paper`` is the defaults, ``fast`` the CPU demo / CI budget, ``mse`` needs no LPIPS weights
    and ``fast_mse`` is both (``fast`` keys first). Built in one place so the methods cannot
    drift apart in which presets exist or how ``fast_mse`` combines the other two.
    """
    return {"paper": {}, "fast": dict(fast), "fast_mse": {**fast, **mse_only}, "mse": dict(mse_only)}


def restrict_presets(presets: Mapping[str, Mapping[str, Any]], config_cls: type) -> Dict[str, Dict[str, Any]]:
    """A method's presets restricted to the fields of one stage's config (the stage's own presets)."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return {p: {k: v for k, v in values.items() if k in names} for p, values in presets.items()}


#: presets of a stage whose inference has no budget to shorten (encoders, HyperStyle at 64 px)
SAME_IN_EVERY_PRESET: Dict[str, Dict[str, Any]] = {"paper": {}, "fast": {}, "mse": {}, "fast_mse": {}}


# --- the projection (SG2 W / W+, and the pivot of PTI and GaNI) -------------------------------

@dataclass
class ProjectionSettings:
    """Every knob of the projection; defaults are NVIDIA's ``projector.project`` defaults.

    ``lr`` is 0.1 in NVIDIA's code (``initial_learning_rate``); PTI's copy of the projector uses
    0.01 and 600 w_avg samples, so PTI/GaNI pass those values.
    """

    steps: int = 1000
    lr: float = 0.1
    w_avg_samples: int = 10_000
    noise_factor: float = 0.05
    noise_ramp: float = 0.75
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    noise_reg_weight: float = 1e5
    #: perceptual distance in ``losses.PERCEPTUAL`` ('lpips_vgg' as NVIDIA, or 'none')
    perceptual: str = "lpips_vgg"
    #: extra pixel MSE weight (0 in NVIDIA's projector; MSE-only runs use perceptual='none', 1)
    mse_weight: float = 0.0
    #: optimise the noise maps (NVIDIA: yes)
    optimize_noise: bool = True


@dataclass
class SG2Config(ProjectionSettings):
    """The projection's settings (same fields, order and defaults as :class:`ProjectionSettings`)
    with SG2 W's 600-step budget, plus ``keep_noise``: one definition, so the baselines' knobs
    cannot drift from the projection's."""

    steps: int = 600
    #: reconstruct with the optimised noise maps (the paper) instead of G's constant noise (the script)
    keep_noise: bool = True

    def settings(self) -> ProjectionSettings:
        """The projection's own fields (everything but ``keep_noise``), as ``project`` takes them."""
        return ProjectionSettings(**{f.name: getattr(self, f.name) for f in fields(ProjectionSettings)})


@dataclass
class SG2WPlusConfig(SG2Config):
    steps: int = 2000


#: SG2's MSE-only override set (no LPIPS weights needed)
SG2_MSE_ONLY: Dict[str, Any] = {"perceptual": "none", "mse_weight": 1.0}
SG2_W_PRESETS = standard_presets(fast={"steps": 50}, mse_only=SG2_MSE_ONLY)
SG2_WPLUS_PRESETS = standard_presets(fast={"steps": 60}, mse_only=SG2_MSE_ONLY)


@dataclass
class PivotConfig:
    """The pivot (W projection) fields shared by PTI and GaNI; defaults are PTI's code.

    PTI (``configs/hyperparameters.py``: ``first_inv_steps = 450``; ``training/projectors/
    w_projector.py``: peak lr 0.01 and ``w_avg_samples=600`` as called from ``base_coach``)
    differs from NVIDIA's projector only in those values.
    """

    pivot_steps: int = 450
    pivot_lr: float = 0.01
    pivot_w_avg_samples: int = 600
    pivot_perceptual: str = "lpips_vgg"
    pivot_mse_weight: float = 0.0
    pivot_noise_reg_weight: float = 1e5

    def pivot_settings(self) -> ProjectionSettings:
        return ProjectionSettings(
            steps=self.pivot_steps,
            lr=self.pivot_lr,
            w_avg_samples=self.pivot_w_avg_samples,
            perceptual=self.pivot_perceptual,
            mse_weight=self.pivot_mse_weight,
            noise_reg_weight=self.pivot_noise_reg_weight,
        )


# --- generator tuning (PTI and GaNI) ----------------------------------------------------------

@dataclass
class LocalityConfig:
    """PTI's locality ("space") regulariser; defaults are the authors' ``configs/hyperparameters.py``."""

    #: distance of the sampled latent from the pivot (``regulizer_alpha``)
    alpha: float = 30.0
    #: truncation of the sampled w_r (``mapping(z, truncation_psi=0.5)``)
    truncation: float = 0.5
    #: weights of the MSE and LPIPS between original and tuned images (``regulizer_*_lambda``)
    mse_weight: float = 0.1
    lpips_weight: float = 0.1
    #: latents per step (``latent_ball_num_of_samples``); the loss is their mean
    samples: int = 1


@dataclass
class TuneSettings:
    steps: int = 350
    lr: float = 3e-4
    mse_weight: float = 1.0
    lpips_weight: float = 1.0
    #: stop (before stepping) once the LPIPS term is <= this; <= 0 disables (PTI: 0.06)
    lpips_threshold: float = 0.06
    #: weight of the locality regulariser (0 = off)
    locality_weight: float = 0.0
    #: regulariser every this many steps (PTI: ``locality_regularization_interval`` = 1)
    locality_interval: int = 1
    locality: LocalityConfig = field(default_factory=LocalityConfig)


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
PTI_FAST: Dict[str, Any] = {"pivot_steps": 40, "tune_steps": 40, "tune_lr": 3e-3}
#: no LPIPS weights needed: MSE-only pivot and tuning (tests, machines without the backbones)
MSE_ONLY: Dict[str, Any] = {"pivot_perceptual": "none", "pivot_mse_weight": 1.0, "perceptual": "none"}
PTI_PRESETS = standard_presets(fast=PTI_FAST, mse_only=MSE_ONLY)


@dataclass
class GaNIRefineConfig(TuningFields):
    """The ``gani`` refinement stage's fields (everything of GaNI but the pivot)."""

    #: ``functional.LAYER_SETS``: 'conv_and_torgb_weights' (default), 'medium_fine', 'all_synthesis'
    layers: str = "conv_and_torgb_weights"
    with_bias: bool = False
    #: 'elementwise' or 'channel_mixing' (``gani_gmm.GMM_STRUCTURES``)
    structure: str = "elementwise"
    hidden: int = 16
    #: per-weight GMM inputs (``gani_gmm.FEATURES``): 'grad', 'sign', 'theta'
    features: Tuple[str, ...] = ("grad", "sign", "theta")
    #: 'additive' (theta + GMM) or 'multiplicative' (theta * (1 + GMM), HyperStyle-style)
    update: str = "additive"
    #: scale additive updates by the layer's weight RMS
    relative_scale: bool = True
    tune_lr: float = 1e-2
    #: weight of PTI's locality regulariser in the GMM training loss (0 = off)
    locality_weight: float = 1.0


@dataclass
class GaNIConfig(GaNIRefineConfig, PivotConfig):
    """Plain GaNI: pivot fields first, then the refinement's (the field order of earlier versions)."""


GANI_PRESETS = standard_presets(fast={**PTI_FAST, "tune_lr": 3e-2, "hidden": 4}, mse_only=MSE_ONLY)


# --- encoders and HyperStyle ------------------------------------------------------------------

@dataclass
class EncoderStageConfig:
    #: encoder name (``gani-bench encoders list``), weights name or file; "" = the run generator's registered one
    encoder: str = ""


@dataclass
class IterativeEncoderStageConfig(EncoderStageConfig):
    #: ReStyle iterations at inference; None = the encoder file's ``n_iters_per_batch``, the count
    #: it was trained with (the authors' training and inference default: 5; the demo file: 2)
    n_iters: Optional[int] = None


@dataclass
class HyperStyleStageConfig:
    #: HyperStyle name (demo or weights) or file; "" = the one registered for the run's generator
    model: str = ""
    #: hypernetwork iterations at inference (authors: 5)
    n_iters: int = 5


__all__ = [
    "standard_presets", "restrict_presets", "SAME_IN_EVERY_PRESET",
    "ProjectionSettings", "SG2Config", "SG2WPlusConfig", "SG2_MSE_ONLY", "SG2_W_PRESETS", "SG2_WPLUS_PRESETS",
    "PivotConfig", "LocalityConfig", "TuneSettings", "TuningFields", "TuningConfig",
    "PTIRefineConfig", "PTIConfig", "PTI_FAST", "MSE_ONLY", "PTI_PRESETS",
    "GaNIRefineConfig", "GaNIConfig", "GANI_PRESETS",
    "EncoderStageConfig", "IterativeEncoderStageConfig", "HyperStyleStageConfig",
]
