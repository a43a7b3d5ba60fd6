"""The per-image generator-tuning loop shared by PTI and GaNI, as a refinement stage.

Both methods fix a pivot latent and optimise something that produces weight *deltas* for the
synthesis network: PTI optimises the deltas themselves, GaNI the parameters of its Gradient
Modification Modules. The loop, the loss (PTI's ``calc_loss``: MSE + LPIPS at the pivot, plus
the optional locality regulariser), the early stop and the bookkeeping are the same, so they
live here once. The generator is never mutated: every forward pass goes through
:func:`gani_bench.stylegan2.functional.synthesize` with ``param + delta``.

Images are tuned one at a time (a Python loop over the batch): each image has its own weights,
its own optimiser state and its own early stop, which makes a batch exactly the same as
one-at-a-time calls.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple

import torch

from .compose import StagedMethod
from .configs import TuneSettings
from .losses import Perceptual, get_perceptual, locality_latents, locality_loss, reconstruction_loss
from .stages import RefinementStage

if TYPE_CHECKING:  # pragma: no cover
    from .base import StageTimer
    from .stages import Embedding, EmbeddingStage, Refinement

Deltas = Dict[str, torch.Tensor]


@dataclass
class TuneOutcome:
    deltas: Deltas
    loss_curve: List[float]
    steps: int


def tune_image(
    generator: torch.nn.Module,
    pivot: torch.Tensor,
    target: torch.Tensor,
    *,
    params: Sequence[torch.Tensor],
    make_deltas: Callable[[], Deltas],
    settings: TuneSettings,
    perceptual: Optional[Perceptual],
    rng: torch.Generator,
) -> TuneOutcome:
    """Optimise ``params`` (Adam) so that ``synthesize(G, pivot, make_deltas())`` matches ``target``.

    ``pivot`` is [1, num_ws, w_dim] and ``target`` [1, 3, H, W]. Returns the final deltas
    (detached), the loss at every optimiser step and the number of optimiser steps taken.
    """
    from ..stylegan2.functional import synthesize

    params = list(params)
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    curve: List[float] = []
    steps_taken = 0
    use_locality = settings.locality_weight > 0
    for step in range(settings.steps):
        deltas = make_deltas()
        images = synthesize(generator, pivot, deltas, noise_mode="const")
        terms = reconstruction_loss(
            images, target, perceptual, mse_weight=settings.mse_weight, perceptual_weight=settings.lpips_weight
        )
        loss = terms.total.sum()
        if use_locality and step % settings.locality_interval == 0:
            w_p = locality_latents(generator, pivot, rng, settings.locality)
            with torch.no_grad():
                original = synthesize(generator, w_p, None, noise_mode="none")
            tuned = synthesize(generator, w_p, deltas, noise_mode="none")
            loss = loss + settings.locality_weight * locality_loss(tuned, original, perceptual, settings.locality)
        # PTI checks the threshold on the current weights and stops before stepping.
        if (
            terms.perceptual is not None
            and settings.lpips_threshold > 0
            and float(terms.perceptual.detach().max()) <= settings.lpips_threshold
        ):
            break
        curve.append(float(loss.detach()))  # one value per optimiser step
        # autograd.grad, not backward(): only ``params`` receive gradients, never G's own
        # parameters (a loaded G has requires_grad=True; backward() would fill its .grad).
        for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True)):
            p.grad = g
        optimizer.step()
        steps_taken += 1
    with torch.no_grad():
        final = {k: v.detach().clone() for k, v in make_deltas().items()}
    return TuneOutcome(deltas=final, loss_curve=curve, steps=steps_taken)


def locality_rng(seed: int, device: torch.device) -> torch.Generator:
    """The random stream of the locality regulariser of the image with seed ``seed``.

    Offset from the projection's stream (which uses ``seed`` itself) so the two never coincide.
    """
    return torch.Generator(device=device).manual_seed(int(seed) + 1_000_003)


class TuningRefinement(RefinementStage):
    """Refinement skeleton of PTI-like stages: per-image tuning of weight deltas from the latents.

    Subclasses implement ``tune_one`` and return a :class:`TuneOutcome`; their per-image stage
    timings go into ``timer`` (PTI: ``tune``; GaNI: ``gradient`` and ``tune``). The latents come
    from any embedding (``methods/stages.py``): W for the papers' pivot, W+ from an encoder.
    """

    def tune_one(
        self,
        generator: torch.nn.Module,
        pivot: torch.Tensor,
        target: torch.Tensor,
        rng: torch.Generator,
        timer: "StageTimer",
    ) -> TuneOutcome:
        raise NotImplementedError

    def tune_with_config(
        self,
        generator: torch.nn.Module,
        pivot: torch.Tensor,
        target: torch.Tensor,
        rng: torch.Generator,
        *,
        params: Sequence[torch.Tensor],
        make_deltas: Callable[[], Deltas],
        locality_weight: float,
    ) -> TuneOutcome:
        """:func:`tune_image` with the loss, budget and learning rate of ``self.config``.

        PTI and GaNI differ only in what they optimise (``params``, ``make_deltas``) and in how
        they weigh the locality term; the rest of the call is read from the shared tuning
        config fields (``tune_settings``, ``tune_lr``, ``perceptual``) here, once.
        """
        config = self.config
        return tune_image(
            generator,
            pivot,
            target,
            params=params,
            make_deltas=make_deltas,
            settings=config.tune_settings(config.tune_lr, locality_weight),
            perceptual=get_perceptual(config.perceptual, target.device),
            rng=rng,
        )

    def refine(self, generator: torch.nn.Module, targets: torch.Tensor, embedding: "Embedding", *,
               seeds: Sequence[int], timer: "StageTimer") -> "Refinement":
        from ..stylegan2.functional import synthesize
        from .stages import Refinement

        latents = embedding.latents
        outcomes: List[TuneOutcome] = []
        for i in range(targets.shape[0]):
            outcomes.append(
                self.tune_one(generator, latents[i : i + 1], targets[i : i + 1], locality_rng(seeds[i], targets.device), timer)
            )
        with torch.no_grad():
            recon = torch.cat(
                [synthesize(generator, latents[i : i + 1], o.deltas, noise_mode="const") for i, o in enumerate(outcomes)]
            )
        return Refinement(
            reconstruction=recon,
            weight_deltas=[o.deltas for o in outcomes],
            loss_curves=[o.loss_curve for o in outcomes],
            steps=[{"tune": o.steps} for o in outcomes],
        )


class PivotTuningMethod(StagedMethod):
    """A paper's pivot-tuning method with one flat ``Config``: the ``sg2_w`` pivot (its ``pivot_*``
    fields, labelled ``pivot``) followed by the ``refinement`` stage (the other fields).

    Plain ``pti`` and ``gani`` are this; ``sg2_w+pti`` with the same projection settings gives
    the same result (tests/test_compose.py), only with the stage labelled ``project``.
    """

    refinement: ClassVar[type] = TuningRefinement

    def refinement_stage(self) -> TuningRefinement:
        from .stages import stage_config

        return self.refinement(stage_config(self.config, self.refinement.Config))

    def stages(self) -> Tuple["EmbeddingStage", Optional[RefinementStage]]:
        from .projection_embedding import pivot_embedding

        return pivot_embedding(self.config), self.refinement_stage()
