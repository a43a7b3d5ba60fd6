"""HyperStyle as a refinement stage, and the ``hyperstyle`` method (= ``w_encoder`` + this stage).

The stage runs :meth:`gani_bench.hyperstyle.HyperStyle.invert` at the embedding's latents, which
stay fixed: ``n_iters`` hypernetwork passes (authors: 5), offsets accumulated, the generator
rendering with ``W * (1 + Delta)`` per image. The offsets are returned as additive per-image
``weight_deltas`` (``W * Delta``, :func:`~gani_bench.hyperstyle.offsets_to_weight_deltas`), the
form PTI and GaNI results have, so every edit metric reads HyperStyle unchanged. Its time is the
stage ``refine`` (all iterations, device-synchronised); with the W-encoder's ``encode`` it is
the whole inversion HyperStyle's ``inference.py`` times.

Which hypernetwork: the config field ``model`` (demo name, weights name or file in the
authors' layout); empty = the one registered for the run's generator in :data:`DEFAULT_HYPERSTYLES`
(one line with the download or train command where there is none). Any embedding can feed it
(``e4e+hyperstyle``), although the released hypernetworks were trained on their W-encoder's latents.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from ..errors import WeightsUnavailable
from .base import METHODS, StageTimer
from .catalog import METHOD_CARDS, REFINEMENT_CARDS
from .compose import make_composed
from .encoder_embedding import WEncoderEmbedding, display_name
from .configs import HyperStyleStageConfig  # noqa: F401  (re-exported)
from .stages import REFINEMENTS, Embedding, Refinement, RefinementStage

#: generator name -> HyperStyle name for ``load_hyperstyle`` (demo: shipped; FFHQ: weight registry)
DEFAULT_HYPERSTYLES: Dict[str, str] = {
    "embedded-64": "embedded-64-hyperstyle",
    "stylegan2-ffhq-1024": "hyperstyle-ffhq",
    "stylegan2-ffhq-1024-rosinality": "hyperstyle-ffhq",
    "stylegan2-cars-512": "hyperstyle-cars",
}


@REFINEMENTS.register("hyperstyle")
class HyperStyleRefinement(RefinementStage):
    card = REFINEMENT_CARDS.get("hyperstyle")
    label = "refine"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._loaded: Dict[Tuple[str, str, int], Any] = {}

    @classmethod
    def available_for(cls, generator: str) -> Optional[str]:
        if generator not in DEFAULT_HYPERSTYLES:
            return f"no HyperStyle is registered for generator {generator!r}"
        return None

    def hyperstyle_name(self) -> str:
        if self.config.model:
            return self.config.model
        name = DEFAULT_HYPERSTYLES.get(self.generator_name or "")
        if name is None:
            shown = display_name(self.generator_name or "the given generator")
            raise WeightsUnavailable(
                f"hyperstyle: no HyperStyle is registered for generator {shown!r}; pass one with --set "
                f"hyperstyle.model=FILE (authors' layout) or train one: gani-bench train hyperstyle --generator "
                f"{shown} --w-encoder ENCODER --synthetic 1024 --out DIR")
        return name

    def load(self, generator: torch.nn.Module, device: torch.device) -> Any:
        """The hypernetwork, loaded once per stage object and fitted to ``generator`` (one line if it cannot be)."""
        from ..hyperstyle import load_hyperstyle
        from ..weights import WEIGHTS, missing_weights_reason

        name = self.hyperstyle_name()
        key = (name, str(device), id(generator))
        if key not in self._loaded:
            if name in WEIGHTS and missing_weights_reason(name) is not None:
                raise WeightsUnavailable(f"hyperstyle: weights {name!r} are not downloaded; run: gani-bench weights download {name}")
            model, _info = load_hyperstyle(name, device=device, generator=generator)
            self._loaded[key] = model.eval().requires_grad_(False)
        return self._loaded[key]

    def refine(self, generator: torch.nn.Module, targets: torch.Tensor, embedding: Embedding, *,
               seeds: Sequence[int], timer: StageTimer) -> Refinement:
        from ..hyperstyle import offsets_to_weight_deltas

        model = self.load(generator, targets.device)
        with timer.stage(self.label), torch.no_grad():
            out = model.invert(generator, targets, embedding.latents, n_iters=self.config.n_iters)
        n = targets.shape[0]
        return Refinement(reconstruction=out.images.detach(), weight_deltas=offsets_to_weight_deltas(generator, out.offsets),
                          loss_curves=[[] for _ in range(n)], steps=[{self.label: 0} for _ in range(n)])


HyperStyleMethod = METHODS.add("hyperstyle", make_composed(
    WEncoderEmbedding, HyperStyleRefinement, card=METHOD_CARDS.get("hyperstyle")))
