"""``gani-bench check --init DIR --from RUN_DIR``: a reference folder for a user's own configuration.

How the tolerances are derived (the same way the project's own were): the run's configuration
(``request`` in its ``run.json``) is re-run from scratch once per thread count in
``SPREAD_THREADS`` (1, 2 and 4 intra-op threads). A different thread count changes the float
reduction order, which is the same kind of perturbation another CPU causes, so the spread of each
(method, metric) mean across those runs measures how far a number can move on a machine that is
not this one. Per metric, the tolerance is ``abs = max(SAFETY * spread, FLOOR[metric])`` with the
largest spread over methods, ``rel = 0``; both are written to ``tolerances.json`` beside the
measured spread. The reference table holds the means of the run at the thread count the check
pins (``config.json``'s ``threads``), so the check reproduces it exactly on this machine.

A configuration whose spread is large compared with its values is chaotic (a few more steps or a
higher learning rate than the optimisation tolerates): the tolerances then come out wide and
``--init`` says so; make the configuration calmer (fewer steps, lower learning rate) instead.
"""
from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import pandas as pd

from ..errors import ConfigError
from .check import CONFIG, DEFAULT_THREADS, REFERENCE_TABLE, TOLERANCES, run_reference_config
from .run_dir import RUN_FILE

log = logging.getLogger("gani_bench.check")

#: intra-op thread counts whose runs measure the spread
SPREAD_THREADS = (1, 2, 4)
#: tolerance = SAFETY x measured spread (three samples underestimate the spread across machines)
SAFETY = 10.0
#: smallest tolerance per metric (abs): differences below these carry no meaning for a benchmark
FLOOR: Dict[str, float] = {"mse": 1e-4, "psnr": 0.02, "ms_ssim": 1e-3, "lpips": 1e-3}
DEFAULT_FLOOR = 1e-3
#: a spread above this fraction of the value flags a chaotic configuration
CHAOTIC_FRACTION = 0.02


def request_from_run(run_dir: Path) -> Dict[str, Any]:
    """The configuration a finished run was asked for (its ``run.json`` ``request``)."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise ConfigError(f"--from {run_dir}: no {RUN_FILE} there; pass the folder a finished `gani-bench run --out` wrote")
    record = json.loads(path.read_text())
    request = record.get("request")
    if not request:
        raise ConfigError(f"--from {run_dir}: its {RUN_FILE} predates the recorded request; re-run it with this version first")
    if not request.get("metrics"):
        request = {**request, "metrics": ["mse", "psnr", "ms_ssim", "lpips"]}
    return request


def measure_spread(config: Mapping[str, Any], work_dir: Path, threads: Sequence[int] = SPREAD_THREADS) -> pd.DataFrame:
    """Means of every (method, metric) of ``config`` run once per thread count (column ``threads``)."""
    frames = []
    for n in threads:
        current, _ = run_reference_config(config, Path(work_dir) / f"threads{n}", threads=n)
        frames.append(current.assign(threads=n))
    return pd.concat(frames, ignore_index=True)


def derive_tolerances(runs: pd.DataFrame, *, safety: float = SAFETY) -> Dict[str, Any]:
    """``tolerances.json`` content from per-thread-count means: tolerance, and the spread it came from."""
    metrics: Dict[str, Any] = {}
    for metric, group in runs.groupby("metric", sort=True):
        per_method = group.groupby("method")["mean"].agg(lambda s: float(s.max() - s.min()))
        spread = float(per_method.max())
        value = float(group["mean"].abs().max())
        tol = max(safety * spread, FLOOR.get(metric, DEFAULT_FLOOR))
        metrics[metric] = {
            "abs": float(f"{tol:.3g}"), "rel": 0.0,
            "spread": {"threads": sorted(int(t) for t in group["threads"].unique()), "max_minus_min": float(f"{spread:.3g}"),
                       "per_method": {m: float(f"{v:.3g}") for m, v in per_method.items()}},
            "chaotic": bool(value > 0 and spread > CHAOTIC_FRACTION * value),
        }
    return {
        "$comment": (f"A metric passes when |current - reference| <= abs + rel * |reference|. abs = max({safety:g} x spread, "
                     "floor): spread = largest (max - min) over methods of the mean across runs pinned to the listed "
                     "thread counts (a proxy for another CPU's float reduction order); floor = the smallest difference "
                     "that means anything for the metric. Written by `gani-bench check --init`."),
        "metrics": metrics,
    }


def init_reference(dest: Path, from_run: Path, *, threads: Sequence[int] = SPREAD_THREADS,
                   work_dir: Optional[Path] = None) -> List[str]:
    """Write ``config.json``, ``reference.csv`` and ``tolerances.json`` into ``dest``; returns messages."""
    dest = Path(dest)
    if (dest / CONFIG).exists():
        raise ConfigError(f"--init {dest}: a reference is already there; pick a new folder or delete it first")
    config = {**request_from_run(from_run), "threads": DEFAULT_THREADS}
    with tempfile.TemporaryDirectory(prefix="gani-check-init-", dir=work_dir) as tmp:
        runs = measure_spread(config, Path(tmp), sorted(set(threads) | {DEFAULT_THREADS}))
    tolerances = derive_tolerances(runs)
    table = runs[runs["threads"] == DEFAULT_THREADS][["method", "metric", "mean", "n"]]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (dest / TOLERANCES).write_text(json.dumps(tolerances, indent=2) + "\n")
    table.sort_values(["method", "metric"]).to_csv(dest / REFERENCE_TABLE, index=False, float_format="%.8g")
    messages = [f"reference written: {dest} ({len(table)} method/metric values; spread measured at threads "
                f"{', '.join(str(t) for t in sorted(runs['threads'].unique()))})"]
    chaotic = [m for m, spec in tolerances["metrics"].items() if spec["chaotic"]]
    if chaotic:
        messages.append(f"warning: {', '.join(chaotic)} moved more than {CHAOTIC_FRACTION:.0%} between thread counts; "
                        "the configuration is chaotic, prefer fewer steps or a lower learning rate")
    if not all(math.isfinite(v) for v in table["mean"]):
        messages.append("warning: some reference values are NaN (metric not computed); they will be reported MISSING")
    return messages
