"""Latent Editing Consistency (LEC), the editability measure of e4e (Tov et al. 2021, Sec. 4.2).

For an invertible latent edit ``f`` (e4e uses InterFaceGAN age +3): encode the image,
``w = E(x)``; edit and render, ``y = G(f(w))``; re-encode the rendering and undo the edit,
``w' = f^-1(E(y))``; LEC is ``||w - w'||_2`` over the whole ``[num_ws, w_dim]`` code. A method
whose inversions live where the encoder and the generator agree gets a small LEC.

Our choices, where e4e's ``metrics/LEC.py`` has no counterpart:

* ``w`` is the method's pivot (``ctx.latents``), which *is* ``E(x)`` for an encoder method;
  for optimisation methods ``ctx.encoder`` should be the method's own projection ("re-invert"),
  so LEC measures the whole inversion pipeline. Without an encoder the metric is unavailable
  for that context (NaN columns and a reason from :meth:`LEC.unavailable_for`).
* ``y`` is rendered by the method's generator (tuned, with its weight deltas, where it has
  them) and resized to 256 px before re-encoding, as e4e's ``face_pool`` does.
* Only edits with an exact inverse are used (InterFaceGAN-style ``w + s d``; GANSpace edits set
  a coordinate and cannot be undone). e4e averages per batch after dropping the top and bottom
  1% of batch means; we report per-image values and leave outlier handling to the report.

Columns: ``lec/<edit>`` and ``lec/mean``; lower is better.
"""
from __future__ import annotations

from typing import ClassVar, Dict, Optional, Tuple

import torch

from .base import METRICS, EditContext
from .edit_fidelity import EditFidelityMetric, _deltas_of, _with_mean, nan_columns, render


def invertible_edits(ctx: EditContext) -> Dict[str, Tuple[object, object]]:
    """``{name: (edit, inverse)}`` for the edits of ``ctx`` that know their exact inverse."""
    out = {}
    for name, edit in ctx.edits.items():
        inverse = getattr(edit, "inverse", None)
        inv = inverse() if callable(inverse) else None
        if inv is not None:
            out[name] = (edit, inv)
    return out


@METRICS.register("lec")
class LEC(EditFidelityMetric):
    """e4e's Latent Editing Consistency: ||w - f^-1(E(G(f(w))))||_2 per image and edit."""

    name: ClassVar[str] = "lec"
    needs_encoder: ClassVar[bool] = True
    direction = "lower"
    weights: ClassVar[Tuple[str, ...]] = ()
    summary: ClassVar[str] = "e4e's LEC: encode, edit, render, re-encode, un-edit; L2 latent distance (needs an encoder)"

    def unavailable_for(self, ctx: EditContext) -> Optional[str]:
        if ctx.encoder is None:
            return "lec needs an encoder (or the method's projection as ctx.encoder) to re-invert edited images; this method provides none"
        if not invertible_edits(ctx):
            return "lec needs at least one invertible edit (InterFaceGAN-style); the selected edits have no exact inverse"
        return self.unavailable_reason()

    @torch.no_grad()
    def compute_edit(self, ctx: EditContext) -> Dict[str, torch.Tensor]:
        n = ctx.latents.shape[0]
        pairs = invertible_edits(ctx)
        if self.unavailable_for(ctx) is not None:
            return nan_columns([f"{self.name}/{e}" for e in pairs] + [f"{self.name}/mean"], n)
        codes = ctx.latents.float()
        per_edit: Dict[str, torch.Tensor] = {}
        for edit_name, (edit, inverse) in pairs.items():
            edited_images = torch.cat([render(ctx, edit(codes[i : i + 1]), _deltas_of(ctx, i)) for i in range(n)])
            recoded = ctx.encoder(edited_images)
            restored = inverse(recoded.to(codes.device).float())
            per_edit[edit_name] = (codes - restored).flatten(1).norm(dim=1).cpu()
        return _with_mean(self.name, per_edit)
