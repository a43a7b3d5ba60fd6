"""Resume fills missing metric columns from the run's saved PNGs, without re-running any method.

A finished image can lack a metric column because the metric's weights were absent when it was
measured, because ``--metrics`` now names a metric the earlier invocation did not ask for, or
because the process was killed between the inversion and a later fill. Image metrics compare a
reconstruction with its target, and both are on disk as the PNGs the metrics score
(``images/<method>/<id>.png`` and ``images/_target/<id>.png``; see ``metric_set``), so the missing
values are computed from those files and the row is appended again with the merged columns (the
store is append-only; readers keep the last row per (method, image)).

Edit metrics render edited images from the method's latents and weight deltas, which a run keeps
only with ``--save-deltas`` (``latents/<method>/<id>.latents.safetensors`` and
``.deltas.safetensors``, tied to the generator's fingerprint). With them, a missing edit metric is
computed like an image metric: from those files, the run's generator and edits, and the target
PNG (edit metrics see targets as saved during the run too, so the values are the run's). LEC
re-encodes with the method's encoder, which is not saved, so it is not filled; neither is any
edit metric without the saved files: the row stays incomplete (the report's "not computed"
list names the metric), one log line says why, and ``--force`` reruns the images.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from . import distributed
from .images import load_png
from .metric_set import MetricSet
from .store import ResultRow, ResultStore, read_results

log = logging.getLogger("gani_bench.run")

#: folder under images/ with the targets as loaded (the runner writes it; report.grids reads it)
TARGET_DIR = "_target"


def has_column(metrics: Dict[str, Any], name: str) -> bool:
    """Whether a row holds metric ``name``: its own column, or its ``name/...`` sub-columns (edit metrics)."""
    return name in metrics or any(k.startswith(name + "/") for k in metrics)


def missing_columns(metrics: Dict[str, Any], wanted: Sequence[str]) -> List[str]:
    """Names in ``wanted`` that have no column in a row's metrics (a null value = computed, no result)."""
    return [n for n in wanted if not has_column(metrics, n)]


@dataclass
class EditSource:
    """What recomputing an edit metric needs besides the saved latents and deltas."""

    generator: Any
    edits: Dict[str, Any]
    seed: int
    #: the generator's fingerprint when the loader knows it (else computed once, when needed)
    fingerprint: Optional[str] = None


def incomplete_rows(run_dir: Path, wanted: Sequence[str], methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Latest ``ok`` rows lacking a column of ``wanted``; column ``missing`` lists which."""
    df = read_results(run_dir)
    if df.empty:
        return df.assign(missing=[])
    df = df[df["status"] == "ok"]
    if methods is not None:
        df = df[df["method"].isin(list(methods))]
    missing = [missing_columns(m, wanted) for m in df["metrics"]]
    df = df.assign(missing=missing)
    return df[[bool(m) for m in missing]].reset_index(drop=True)


def _row_from(rec: Dict[str, Any], metrics: Dict[str, Any], extra_seconds: float) -> ResultRow:
    def opt(v: Any) -> Any:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    return ResultRow(
        method=rec["method"], image_id=rec["image_id"], status="ok", error=None, metrics=metrics,
        stage_seconds=dict(rec["stage_seconds"]), metric_seconds=float(opt(rec["metric_seconds"]) or 0.0) + extra_seconds,
        harness_seconds=float(opt(rec["harness_seconds"]) or 0.0), steps=dict(rec["steps"]),
        config_hash=rec["config_hash"] or "", config_json=rec["config_json"] or "{}", versions=dict(rec["versions"]),
        device=rec["device"] or "", git_commit=opt(rec["git_commit"]), seed=int(rec["seed"]), rank=int(rec["rank"]),
        image_path=opt(rec["image_path"]), notes=opt(rec["notes"]))


def saved_inversion(run_dir: Path, method: str, image_id: str, source: EditSource) -> Optional[Tuple[Any, Any]]:
    """(latents [1, num_ws, w_dim], weight deltas or None) saved by ``--save-deltas``; None when absent.

    A method that tunes the generator needs its deltas file too (rendering its edits with the
    untuned generator would be another method's numbers). Deltas of another generator are refused
    by their fingerprint (``CheckpointError``).
    """
    from safetensors.torch import load_file

    from ..checkpoints.native import load_weight_deltas
    from ..checkpoints.state import state_fingerprint
    from ..methods.base import METHODS

    folder = run_dir / "latents" / method
    lat, dlt = folder / f"{image_id}.latents.safetensors", folder / f"{image_id}.deltas.safetensors"
    if not lat.is_file():
        return None
    device = next(source.generator.parameters()).device
    latents = load_file(str(lat))["latents"][None].to(device)
    if not dlt.is_file():
        return None if METHODS.get(method).tunes_generator else (latents, None)
    if source.fingerprint is None:
        source.fingerprint = state_fingerprint(source.generator)
    return latents, load_weight_deltas(dlt, source.generator, fingerprint=source.fingerprint)


def _edit_values(run_dir: Path, rec: Dict[str, Any], metrics: MetricSet, names: List[str], target: Any,
                 source: EditSource) -> Optional[Dict[str, float]]:
    from ..metrics.base import EditContext

    saved = saved_inversion(run_dir, rec["method"], rec["image_id"], source)
    if saved is None:
        return None
    latents, deltas = saved
    ctx = EditContext(generator=source.generator, latents=latents, weight_deltas=None if deltas is None else [deltas],
                      targets=target.to(latents.device), edits=source.edits, seed=source.seed)
    return metrics.compute_edit(ctx, only=names)[0]


def fill_missing(run_dir: Path, store: ResultStore, metrics: MetricSet, methods: Sequence[str],
                 info: distributed.DistInfo, edits_from: Optional[EditSource] = None) -> int:
    """Compute every available metric missing from finished rows of ``methods``; returns values filled.

    Image metrics come from the saved PNGs; edit metrics (``edits_from`` given, the run has
    edits) from the latents and deltas ``--save-deltas`` kept. Every rank reads the same list
    before any rank appends (barrier), then fills its shard.
    """
    image_names = metrics.image_names
    edit_names = metrics.refillable_edit_names if edits_from is not None and edits_from.edits else []
    wanted = image_names + edit_names
    todo = incomplete_rows(run_dir, wanted, methods) if wanted else pd.DataFrame()
    distributed.barrier(info)
    if todo.empty:
        return 0
    records = todo.to_dict("records")
    filled, unreadable, unsaved = 0, 0, 0
    for rec in distributed.shard(records, info):
        pred_path = run_dir / rec["image_path"] if isinstance(rec.get("image_path"), str) else None
        target_path = run_dir / "images" / TARGET_DIR / f"{rec['image_id']}.png"
        if pred_path is None or not pred_path.is_file() or not target_path.is_file():
            unreadable += 1
            continue
        t0 = time.perf_counter()
        pred, target = load_png(pred_path)[None], load_png(target_path)[None]
        only_image = [n for n in rec["missing"] if n in image_names]
        only_edit = [n for n in rec["missing"] if n in edit_names]
        values = metrics.compute_image(pred, target, only=only_image)[0] if only_image else {}
        if only_edit:
            edit_values = _edit_values(run_dir, rec, metrics, only_edit, target, edits_from)
            if edit_values is None:
                unsaved += 1
            else:
                values.update(edit_values)
        if not values:
            continue
        merged = dict(rec["metrics"])
        merged.update(values)
        store.append(_row_from(rec, merged, time.perf_counter() - t0))
        filled += len(values)
    if filled and info.is_main:
        names = sorted({n for rec in records for n in rec["missing"]})
        log.info("filled %s for %d finished image(s) from their saved PNGs%s (no method re-run)",
                 ", ".join(names), len(records), " and latents" if set(names) & set(edit_names) else "")
    if unreadable:
        log.warning("%d finished image(s) lack their saved PNGs; their missing metrics stay missing", unreadable)
    if unsaved:
        from ..interface import flag

        log.warning("%d finished image(s) miss edit metrics that need their latents and weight deltas, which the "
                    "run did not save; they stay missing (rerun those images with %s, and %s to keep them next time)",
                    unsaved, flag("force"), flag("save_deltas"))
    return filled
