"""GaNI: Gradient Adjusting Networks for Domain Inversion (Sheffi, Rotman, Wolf 2023).

From the paper's abstract: a per-image, one-shot training of shallow update networks
("Gradient Modification Modules") that modify the generator's layers; after training, a single
application of these networks to the original parameters gives the modified generator, which
inverts the image almost perfectly while leaving the rest of the latent-to-image mapping
relatively intact. The paper body and code are not public: every concrete choice below is
OUR reading (docs/methods.md, GaNI), and each one is a config field:

1. pivot: the W projection PTI uses (shared code, 450 steps);
2. layers: every modulated-conv and ToRGB weight (``layers='conv_and_torgb_weights'``) or HyperStyle's
   medium+fine convs (``'medium_fine'``), biases optional;
3. GMM input: g_l = dL/dtheta_l of L = MSE + LPIPS(alex) at the pivot and the original weights,
   computed once, divided by its RMS per layer (extra features: sign(g), theta_l / RMS);
4. GMM_l: 2 layers, ``elementwise`` or ``channel_mixing``, per-layer gain starting at 0;
   theta'_l = theta_l + GMM_l(g_l) (or multiplicative theta_l * (1 + GMM_l));
5. one-shot training on the image: Adam on the GMM parameters only, loss MSE + LPIPS at the
   pivot + PTI's locality regulariser (weight ``locality_weight``), PTI's step budget;
6. result: the deltas materialised once.
"""
from __future__ import annotations

from typing import Dict, List

import torch

from ..errors import ConfigError
from .base import METHODS, StageTimer
from .catalog import METHOD_CARDS, REFINEMENT_CARDS
from .configs import GaNIConfig, GaNIRefineConfig  # noqa: F401  (GaNIConfig re-exported)
from .gani_gmm import FEATURES, GradientModificationModules, layer_features
from .losses import get_perceptual, reconstruction_loss
from .stages import REFINEMENTS
from .tuning import PivotTuningMethod, TuneOutcome, TuningRefinement


def select_layers(generator: torch.nn.Module, layer_set: str, with_bias: bool) -> List[str]:
    """Parameter names of the layer set (``functional.LAYER_SETS``), refusing an empty selection."""
    from ..stylegan2.functional import tunable_parameter_names

    names = tunable_parameter_names(generator, layer_set, with_bias=with_bias)
    if not names:
        raise ConfigError(f"gani: layer set {layer_set!r} selects no parameter of this generator")
    return names


#: named config overrides for the ablation table (``gani-bench run ... --set`` sweeps them)
ABLATIONS: Dict[str, Dict[str, object]] = {
    "default": {},
    "channel_mixing": {"structure": "channel_mixing"},
    "grad_only": {"features": ("grad",)},
    "no_locality": {"locality_weight": 0.0},
    "medium_fine": {"layers": "medium_fine"},
    "with_bias": {"with_bias": True},
    "multiplicative": {"update": "multiplicative"},
    "hidden_4": {"hidden": 4},
}


def ablation_configs(preset: str = "paper") -> Dict[str, "GaNIConfig"]:
    """One config per :data:`ABLATIONS` entry on top of ``preset``."""
    return {name: GaNI.make_config(preset, overrides) for name, overrides in ABLATIONS.items()}


@REFINEMENTS.register("gani")
class GaNIRefinement(TuningRefinement):
    """GaNI's GMM training from any embedding's latents (``e4e+gani``)."""

    card = REFINEMENT_CARDS.get("gani")

    def _check(self) -> None:
        for name in self.config.features:
            FEATURES.get(name)
        if not self.config.features:
            raise ConfigError("gani: features must name at least one of: " + ", ".join(FEATURES.names()))

    def layer_gradients(
        self, generator: torch.nn.Module, pivot: torch.Tensor, target: torch.Tensor, names: List[str]
    ) -> Dict[str, torch.Tensor]:
        """g_l = dL/dtheta_l at the original weights and the pivot (one forward/backward)."""
        from ..stylegan2.functional import synthesize

        config: GaNIRefineConfig = self.config
        params = dict(generator.named_parameters())
        zeros = {n: torch.zeros_like(params[n], requires_grad=True) for n in names}
        images = synthesize(generator, pivot, zeros, noise_mode="const")
        loss = reconstruction_loss(
            images,
            target,
            get_perceptual(config.perceptual, target.device),
            mse_weight=config.mse_weight,
            perceptual_weight=config.lpips_weight,
        ).total.sum()
        grads = torch.autograd.grad(loss, [zeros[n] for n in names])
        return {n: g.detach() for n, g in zip(names, grads)}

    def build_gmms(
        self, generator: torch.nn.Module, grads: Dict[str, torch.Tensor]
    ) -> GradientModificationModules:
        config: GaNIRefineConfig = self.config
        params = dict(generator.named_parameters())
        weights = {n: params[n].detach() for n in grads}
        feats = {n: layer_features(grads[n], weights[n], config.features) for n in grads}
        return GradientModificationModules(
            weights,
            feats,
            structure=config.structure,
            hidden=config.hidden,
            update=config.update,
            relative_scale=config.relative_scale,
        ).to(pivot_device(generator))

    def tune_one(
        self,
        generator: torch.nn.Module,
        pivot: torch.Tensor,
        target: torch.Tensor,
        rng: torch.Generator,
        timer: StageTimer,
    ) -> TuneOutcome:
        config: GaNIRefineConfig = self.config
        self._check()
        names = select_layers(generator, config.layers, config.with_bias)
        with timer.stage("gradient"):
            grads = self.layer_gradients(generator, pivot, target, names)
        with timer.stage("tune"):
            # GMM initialisation draws from the image's own stream: batch == one-at-a-time
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=rng, device=rng.device)))
                gmms = self.build_gmms(generator, grads)
            return self.tune_with_config(
                generator,
                pivot,
                target,
                rng,
                params=list(gmms.parameters()),
                make_deltas=gmms,
                locality_weight=config.locality_weight,
            )


def pivot_device(generator: torch.nn.Module) -> torch.device:
    return next(generator.parameters()).device


@METHODS.register("gani")
class GaNI(PivotTuningMethod):
    card = METHOD_CARDS.get("gani")
    refinement = GaNIRefinement

    # the refinement's steps, reachable on the method as before (tests, notebooks)
    def layer_gradients(self, generator: torch.nn.Module, pivot: torch.Tensor, target: torch.Tensor,
                        names: List[str]) -> Dict[str, torch.Tensor]:
        return self.refinement_stage().layer_gradients(generator, pivot, target, names)

    def build_gmms(self, generator: torch.nn.Module, grads: Dict[str, torch.Tensor]) -> GradientModificationModules:
        return self.refinement_stage().build_gmms(generator, grads)
