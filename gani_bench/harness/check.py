"""``gani-bench check``: re-run the reference configuration and compare with the committed table.

``reports/reference/`` holds three files:

* ``config.json`` - the reference configuration (demo dataset, fast preset, fixed seed, a few
  methods and images, the metrics compared) chosen to take a few minutes on 2 CPU cores;
* ``demo_fast.csv`` - per (method, metric): the mean the reference run gave;
* ``tolerances.json`` - per metric: ``abs`` and ``rel`` tolerance; a change is within tolerance
  when ``|new - ref| <= abs + rel * |ref|``. The values (and why) are in that file.

A change beyond tolerance in the metric's *worse* direction is a regression (exit status 1); in
the *better* direction it is reported with a hint to ``--update`` (exit 0), so an improvement is
recorded deliberately instead of silently widening the margin for the next regression. Time is
never compared: it is a property of the machine. A metric that cannot run here (weights absent)
is listed as not compared; if no metric at all could be compared the check fails.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Union

import pandas as pd

from ..errors import DatasetError

log = logging.getLogger("gani_bench.check")

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "reports" / "reference"
REFERENCE_TABLE = "demo_fast.csv"
TOLERANCES = "tolerances.json"
CONFIG = "config.json"


@dataclass
class CheckResult:
    passed: bool
    #: method, metric, direction, reference, current, diff, tolerance, status
    rows: pd.DataFrame
    run_dir: Path
    updated: bool = False
    messages: List[str] = field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["status"] == "REGRESSION"]


def load_reference(reference_dir: Path) -> tuple:
    reference_dir = Path(reference_dir)
    try:
        config = json.loads((reference_dir / CONFIG).read_text())
        tolerances = json.loads((reference_dir / TOLERANCES).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{reference_dir}: reference config/tolerances unreadable ({exc}); restore reports/reference from git") from None
    table_path = reference_dir / REFERENCE_TABLE
    table = pd.read_csv(table_path) if table_path.is_file() else None
    return config, tolerances, table


def tolerance_for(metric: str, tolerances: Mapping[str, Any], ref: float) -> float:
    spec = tolerances.get("metrics", {}).get(metric) or tolerances.get("default", {"abs": 0.0, "rel": 0.05})
    return float(spec.get("abs", 0.0)) + float(spec.get("rel", 0.0)) * abs(ref)


def compare(reference: pd.DataFrame, current: pd.DataFrame, tolerances: Mapping[str, Any],
            unavailable: Mapping[str, str]) -> pd.DataFrame:
    """Row per reference (method, metric): current value, difference, tolerance and a status."""
    from ..report.tables import metric_direction

    cur = {(r.method, r.metric): float(r.mean) for r in current.itertuples()}
    rows = []
    for r in reference.itertuples():
        ref = float(r.mean)
        direction = metric_direction(r.metric)
        tol = tolerance_for(r.metric, tolerances, ref)
        new = cur.get((r.method, r.metric), float("nan"))
        if r.metric in unavailable:
            status, diff = "NOT COMPARED", float("nan")
        elif not math.isfinite(new):
            status, diff = "MISSING", float("nan")
        else:
            diff = new - ref
            worse = diff > 0 if direction == "lower" else diff < 0
            status = "ok" if abs(diff) <= tol else ("REGRESSION" if worse else "IMPROVED")
        rows.append({"method": r.method, "metric": r.metric, "direction": direction, "reference": ref,
                     "current": new, "diff": diff, "tolerance": tol, "status": status})
    return pd.DataFrame(rows, columns=["method", "metric", "direction", "reference", "current", "diff", "tolerance", "status"])


def format_rows(rows: pd.DataFrame) -> str:
    """Fixed-width diff table for the terminal."""
    header = f"{'method':<12} {'metric':<10} {'reference':>11} {'current':>11} {'diff':>11} {'tol':>9}  status"
    lines = [header, "-" * len(header)]
    for r in rows.itertuples():
        lines.append(f"{r.method:<12} {r.metric:<10} {r.reference:>11.5g} {r.current:>11.5g} {r.diff:>+11.3g} {r.tolerance:>9.2g}  {r.status}")
    return "\n".join(lines)


def run_check(update: bool = False, *, reference_dir: Union[str, Path, None] = None, out: Union[str, Path, None] = None,
              overrides: Optional[Sequence[str]] = None, methods: Optional[Sequence[str]] = None,
              progress: bool = False) -> CheckResult:
    """Run the reference configuration from scratch and compare (or, with ``update``, rewrite)."""
    from . import runner

    reference_dir = Path(reference_dir) if reference_dir else REFERENCE_DIR
    config, tolerances, reference = load_reference(reference_dir)
    run_dir = Path(out) if out else Path("runs") / "check"
    runner.clear_results(run_dir)  # a check always starts clean: resuming would compare stale rows
    cfg = runner.RunConfig(
        methods=list(methods or config["methods"]), dataset=config.get("dataset", "demo"),
        generator=config.get("generator"), preset=config.get("preset", "fast"),
        overrides=list(config.get("overrides", [])) + list(overrides or []), limit=config.get("limit"),
        batch_size=int(config.get("batch_size", 1)), device=config.get("device", "cpu"), seed=int(config.get("seed", 0)),
        out=run_dir, edits=config.get("edits", "none"), metrics=config.get("metrics"), progress=progress, report=False,
    )
    result = runner.run(cfg)
    summary = result.table
    current = summary[summary["metric"].isin(config.get("metrics") or summary["metric"].unique())]
    current = current[["method", "metric", "mean", "n"]].reset_index(drop=True)
    messages: List[str] = []
    for name, reason in result.unavailable_metrics.items():
        messages.append(f"{name}: not compared ({reason})")
    if update:
        reference_dir.mkdir(parents=True, exist_ok=True)
        current.sort_values(["method", "metric"]).to_csv(reference_dir / REFERENCE_TABLE, index=False, float_format="%.8g")
        messages.append(f"reference rewritten: {reference_dir / REFERENCE_TABLE}")
        rows = compare(current, current, tolerances, result.unavailable_metrics)
        return CheckResult(passed=True, rows=rows, run_dir=run_dir, updated=True, messages=messages)
    if reference is None:
        raise DatasetError(f"{reference_dir / REFERENCE_TABLE} is missing; run `gani-bench check --update` to create it")
    rows = compare(reference, current, tolerances, result.unavailable_metrics)
    compared = rows[rows["status"].isin(["ok", "REGRESSION", "IMPROVED"])]
    bad = rows["status"].isin(["REGRESSION", "MISSING"]).any() or compared.empty
    if (rows["status"] == "IMPROVED").any():
        messages.append("some metrics improved beyond tolerance; if intended, record them with `gani-bench check --update`")
    if compared.empty:
        messages.append("no metric could be compared (all unavailable here)")
    return CheckResult(passed=not bad, rows=rows, run_dir=run_dir, messages=messages)
