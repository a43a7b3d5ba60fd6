"""Edit-fidelity metrics: does a method's inversion stay *editable*?

Methods that tune the generator (PTI, GaNI, HyperStyle) reconstruct the target almost perfectly
but may break the latent space around the pivot, so latent edits stop doing what they did on
the original generator. PTI (Roich et al. 2021, Sec. 4 "locality" and the editing comparisons)
and HyperStyle (Alaluf et al. 2022, Sec. 5 "editability") evaluate this qualitatively and with
ID similarity after editing; these metrics turn it into numbers:

* ``edit_consistency_mse`` / ``edit_consistency_lpips``: for every edit ``e`` and image ``i``,
  the distance between ``G_tuned_i(e(w_i))`` and ``G_orig(e(w_i))``. 0 means the tuned generator
  renders the edit exactly as the original does (the pivot's edit semantics are kept). It
  is *our* quantitative reading of PTI/HyperStyle's "editability is preserved" claims.
* ``edit_id`` (and ``edit_id_arcface``/``_facenet``/``_dlib``, one per ID backend, mirroring
  ``id_similarity*``): identity similarity between the edited image (tuned generator) and the target,
  the "ID after editing" number HyperStyle and PTI report (higher = the person survives edits).
* ``locality_mse`` / ``locality_lpips``: PTI's locality measure: distance between the tuned
  and the original generator at latents *away* from the pivot, where a local tuning should
  change nothing. Two probes: ``interp`` = PTI's regulariser points
  ``w_p = w_pivot + 30 (w_r - w_pivot) / ||w_r - w_pivot||`` with ``w_r = mapping(z)``,
  truncation 0.5 (``criteria/localitly_regulizer.py``; the norm is over the whole
  ``[num_ws, w_dim]`` tensor, as there), and ``random`` = the samples ``w_r`` themselves.

Column names are ``<metric>/<edit>`` plus ``<metric>/mean`` (mean over edits per image), and
``<metric>/interp``, ``<metric>/random`` for locality. LPIPS and MSE are separate metrics so a
missing LPIPS backbone makes only the LPIPS columns unavailable. Methods that do not tune G
(``weight_deltas`` None) get exact zeros without rendering. All images are compared at the
evaluation resolution (256 px) in [-1, 1], like every image metric; rendering uses constant
noise (``noise_mode='const'``), so edits are deterministic.
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar, Dict, List, Optional, Tuple

import torch

from .base import METRICS, EditContext, EditMetric, resize_for_eval
from . import id_similarity  # noqa: F401  (registers the ID metrics edit_id delegates to)
from .mse import per_image_mse

#: PTI's ``regulizer_alpha``: step length from the pivot towards a random w
LOCALITY_ALPHA = 30.0
#: PTI samples ``w_r`` with truncation 0.5
LOCALITY_TRUNCATION = 0.5
#: latents per image for the locality probes (PTI draws 1 per step; we average a few)
LOCALITY_SAMPLES = 4

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------
# Rendering helpers


def _deltas_of(ctx: EditContext, i: int) -> Optional[Dict[str, torch.Tensor]]:
    return None if ctx.weight_deltas is None else ctx.weight_deltas[i]


@torch.no_grad()
def render(ctx: EditContext, ws: torch.Tensor, deltas: Optional[Dict[str, torch.Tensor]]) -> torch.Tensor:
    """``G(ws)`` with optional weight deltas as the image it would be saved as: clipped to
    [-1, 1] (like every reconstruction the harness scores), resized to the evaluation
    resolution, float32."""
    from ..stylegan2.functional import synthesize

    device = next(ctx.generator.parameters()).device
    img = synthesize(ctx.generator, ws.to(device), deltas=deltas, noise_mode="const")
    return resize_for_eval(img.float().clamp(-1, 1))


def render_pair(ctx: EditContext, i: int, ws: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(tuned, original) renders of ``ws`` for image ``i``; same batch shape so that zero deltas
    give bit-identical images."""
    return render(ctx, ws, _deltas_of(ctx, i)), render(ctx, ws, None)


def _mean_over(columns: Dict[str, torch.Tensor]) -> torch.Tensor:
    stacked = torch.stack(list(columns.values()))
    return torch.nanmean(stacked, dim=0)


def _with_mean(name: str, per_edit: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    out = {f"{name}/{edit}": v for edit, v in per_edit.items()}
    if per_edit:
        out[f"{name}/mean"] = _mean_over(per_edit)
    return out


class EditFidelityMetric(EditMetric):
    """Shared plumbing: per-context availability (e.g. LEC without an encoder)."""

    def unavailable_for(self, ctx: EditContext) -> Optional[str]:
        """None if the metric can run on ``ctx``, else one line why not (default: weights only)."""
        return self.unavailable_reason()


class _MSEDistance:
    """Mixin: the metric's distance is per-image MSE, which needs no weights."""

    weights: ClassVar[Tuple[str, ...]] = ()

    def distance(self) -> Distance:
        return per_image_mse


class _LPIPSAlexDistance:
    """Mixin: the metric's distance is LPIPS(alex), which needs the AlexNet LPIPS weights.

    Edit consistency and locality each come as an MSE and an LPIPS metric; these two mixins
    say once what "MSE" and "LPIPS" mean for both families.
    """

    weights: ClassVar[Tuple[str, ...]] = ("lpips-alexnet",)
    device: torch.device

    def distance(self) -> Distance:
        from .lpips_metric import get_lpips

        return get_lpips("alex", self.device)


# --------------------------------------------------------------------------------------------
# Edit consistency


class _EditConsistency(EditFidelityMetric):
    direction = "lower"

    def distance(self) -> Distance:
        raise NotImplementedError

    @torch.no_grad()
    def compute_edit(self, ctx: EditContext) -> Dict[str, torch.Tensor]:
        n = ctx.latents.shape[0]
        per_edit: Dict[str, torch.Tensor] = {}
        if ctx.weight_deltas is None:  # G untouched: the edit renders identically, by definition
            per_edit = {edit: torch.zeros(n) for edit in ctx.edits}
            return _with_mean(self.name, per_edit)
        dist = self.distance()
        for edit_name, edit in ctx.edits.items():
            values = []
            for i in range(n):
                tuned, orig = render_pair(ctx, i, edit(ctx.latents[i : i + 1]))
                values.append(dist(tuned.to(self.device), orig.to(self.device)).reshape(-1).cpu())
            per_edit[edit_name] = torch.cat(values)
        return _with_mean(self.name, per_edit)


@METRICS.register("edit_consistency_mse")
class EditConsistencyMSE(_MSEDistance, _EditConsistency):
    """MSE between the edit rendered by the tuned and by the original generator (PTI/HyperStyle
    editability, made quantitative; our definition). No weights needed."""

    name: ClassVar[str] = "edit_consistency_mse"
    summary: ClassVar[str] = "MSE(G_tuned(edit(w)), G_orig(edit(w))) per edit at 256 px; 0 = edits behave as on the original G"


@METRICS.register("edit_consistency_lpips")
class EditConsistencyLPIPS(_LPIPSAlexDistance, _EditConsistency):
    """LPIPS(alex) between the edit rendered by the tuned and by the original generator."""

    name: ClassVar[str] = "edit_consistency_lpips"
    summary: ClassVar[str] = "LPIPS-alex(G_tuned(edit(w)), G_orig(edit(w))) per edit at 256 px"


# --------------------------------------------------------------------------------------------
# Identity after editing


class EditID(EditFidelityMetric):
    """Identity similarity between each edited image (rendered by the method's own, possibly
    tuned, generator) and the target: HyperStyle's and PTI's "ID after editing". Delegates to a
    registered ID metric (``id_metric``); images without a detected face give NaN, as there."""

    direction = "higher"
    #: the registered identity metric this one delegates to
    id_metric_name: ClassVar[str] = ""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        super().__init__(device)
        self.id_metric = METRICS.get(self.id_metric_name)(self.device)

    def unavailable_reason(self) -> Optional[str]:
        return self.id_metric.unavailable_reason()

    @torch.no_grad()
    def compute_edit(self, ctx: EditContext) -> Dict[str, torch.Tensor]:
        n = ctx.latents.shape[0]
        targets = resize_for_eval(ctx.targets.float())
        per_edit: Dict[str, torch.Tensor] = {}
        for edit_name, edit in ctx.edits.items():
            edited = torch.cat([render(ctx, edit(ctx.latents[i : i + 1]), _deltas_of(ctx, i)) for i in range(n)])
            per_edit[edit_name] = self.id_metric.compute(edited.to(self.device), targets.to(self.device)).reshape(-1).float().cpu()
        return _with_mean(self.name, per_edit)


def _register_edit_id(name: str, id_metric_name: str) -> type:
    cls = type(
        f"EditID_{id_metric_name}",
        (EditID,),
        {
            "name": name,
            "id_metric_name": id_metric_name,
            "weights": METRICS.get(id_metric_name).weights,
            "summary": f"{id_metric_name} of edit(w) rendered by the method's G vs the target (identity kept under edits)",
            "__doc__": f"ID after editing, measured with the {id_metric_name!r} metric.",
        },
    )
    return METRICS.add(name, cls)


#: ``edit_id`` uses the protocol's ID network; the variants mirror ``id_similarity_*``.
EDIT_ID_VARIANTS: Dict[str, str] = {
    "edit_id": "id_similarity",
    "edit_id_arcface": "id_similarity_arcface",
    "edit_id_facenet": "id_similarity_facenet",
    "edit_id_dlib": "id_similarity_dlib",
}
for _name, _id_name in EDIT_ID_VARIANTS.items():
    _register_edit_id(_name, _id_name)


# --------------------------------------------------------------------------------------------
# Locality


def locality_latents(ctx: EditContext, i: int, num_samples: int = LOCALITY_SAMPLES) -> Dict[str, torch.Tensor]:
    """PTI's probe latents for image ``i``: ``{'interp': w_p, 'random': w_r}``, each [K, num_ws, w_dim].

    The z are drawn from ``ctx.seed`` (the same for every image, so images differ only by their
    pivot and tuning, never by sampling noise).
    """
    G = ctx.generator
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(int(ctx.seed))
    z = torch.randn(num_samples, G.z_dim, generator=g).to(device)
    c = None if G.c_dim == 0 else torch.zeros(num_samples, G.c_dim, device=device)  # conditional G: all-zero label (our choice)
    with torch.no_grad():
        w_r = G.mapping(z, c, truncation_psi=LOCALITY_TRUNCATION).float()
    pivot = ctx.latents[i : i + 1].to(device).float()
    step = w_r - pivot
    norm = step.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
    return {"interp": pivot + LOCALITY_ALPHA * step / norm, "random": w_r}


class _Locality(EditFidelityMetric):
    direction = "lower"

    def distance(self) -> Distance:
        raise NotImplementedError

    @torch.no_grad()
    def compute_edit(self, ctx: EditContext) -> Dict[str, torch.Tensor]:
        n = ctx.latents.shape[0]
        if ctx.weight_deltas is None:
            return {f"{self.name}/interp": torch.zeros(n), f"{self.name}/random": torch.zeros(n)}
        dist = self.distance()
        cols: Dict[str, List[float]] = {"interp": [], "random": []}
        for i in range(n):
            for probe, ws in locality_latents(ctx, i).items():
                tuned, orig = render_pair(ctx, i, ws)
                cols[probe].append(float(dist(tuned.to(self.device), orig.to(self.device)).mean()))
        return {f"{self.name}/{probe}": torch.tensor(v) for probe, v in cols.items()}


@METRICS.register("locality_mse")
class LocalityMSE(_MSEDistance, _Locality):
    """PTI's locality: MSE between tuned and original generator at latents away from the pivot
    (PTI Sec. 3.3 locality regularisation, used there as a loss; here as a measure)."""

    name: ClassVar[str] = "locality_mse"
    summary: ClassVar[str] = "MSE(G_tuned, G_orig) at PTI's w_p = w_piv + 30 (w_r - w_piv)/|.| ('interp') and at w_r ('random')"


@METRICS.register("locality_lpips")
class LocalityLPIPS(_LPIPSAlexDistance, _Locality):
    """PTI's locality with LPIPS(alex) instead of MSE (PTI's regulariser uses both)."""

    name: ClassVar[str] = "locality_lpips"
    summary: ClassVar[str] = "LPIPS-alex(G_tuned, G_orig) at PTI's locality probes ('interp', 'random')"


def nan_columns(names: List[str], n: int) -> Dict[str, torch.Tensor]:
    """Columns of NaN ("not computed") for a metric that cannot run on this context."""
    return {name: torch.full((n,), math.nan) for name in names}
