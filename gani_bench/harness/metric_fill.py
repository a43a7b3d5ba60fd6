"""Resume fills missing metric columns from the run's saved PNGs, without re-running any method.

A finished image can lack a metric column because the metric's weights were absent when it was
measured, because ``--metrics`` now names a metric the earlier invocation did not ask for, or
because the process was killed between the inversion and a later fill. Image metrics compare a
reconstruction with its target, and both are on disk as the PNGs the metrics score
(``images/<method>/<id>.png`` and ``images/_target/<id>.png``; see ``metric_set``), so the missing
values are computed from those files and the row is appended again with the merged columns (the
store is append-only; readers keep the last row per (method, image)).

Edit metrics are *not* recomputable from the saved images: they render edited images from the
method's latents and weight deltas, which are not kept by default. A row missing an edit metric
column stays listed as incomplete (the report's "not computed" list names the metric); rerun the
images with ``--force`` to compute it.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pandas as pd

from . import distributed
from .images import load_png
from .metric_set import MetricSet
from .store import ResultRow, ResultStore, read_results

log = logging.getLogger("gani_bench.run")

#: folder under images/ with the targets as loaded (the runner writes it; report.grids reads it)
TARGET_DIR = "_target"


def missing_columns(metrics: Dict[str, Any], wanted: Sequence[str]) -> List[str]:
    """Names in ``wanted`` that have no column in a row's metrics (a null value = computed, no result)."""
    return [n for n in wanted if n not in metrics]


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


def fill_missing(run_dir: Path, store: ResultStore, metrics: MetricSet, methods: Sequence[str],
                 info: distributed.DistInfo) -> int:
    """Compute every available image metric missing from finished rows of ``methods``; returns values filled.

    Every rank reads the same list before any rank appends (barrier), then fills its shard.
    """
    wanted = metrics.image_names
    todo = incomplete_rows(run_dir, wanted, methods) if wanted else pd.DataFrame()
    distributed.barrier(info)
    if todo.empty:
        return 0
    records = todo.to_dict("records")
    filled, unreadable = 0, 0
    for rec in distributed.shard(records, info):
        pred_path = run_dir / rec["image_path"] if isinstance(rec.get("image_path"), str) else None
        target_path = run_dir / "images" / TARGET_DIR / f"{rec['image_id']}.png"
        if pred_path is None or not pred_path.is_file() or not target_path.is_file():
            unreadable += 1
            continue
        t0 = time.perf_counter()
        pred, target = load_png(pred_path)[None], load_png(target_path)[None]
        values = metrics.compute_image(pred, target, only=rec["missing"])[0]
        if not values:
            continue
        merged = dict(rec["metrics"])
        merged.update(values)
        store.append(_row_from(rec, merged, time.perf_counter() - t0))
        filled += len(values)
    if filled and info.is_main:
        names = sorted({n for rec in records for n in rec["missing"]})
        log.info("filled %s for %d finished image(s) from their saved PNGs (no method re-run)",
                 ", ".join(names), len(records))
    if unreadable:
        log.warning("%d finished image(s) lack their saved PNGs; their missing metrics stay missing", unreadable)
    return filled
