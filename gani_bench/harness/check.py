"""``gani-bench check``: re-run a reference configuration and compare with its reference table.

A reference folder holds three files (the project's own ships inside the package, in
``gani_bench/reference/``, so ``check`` works from an installed wheel; ``--init`` writes one for
a user's own method, see :mod:`.check_reference`):

* ``config.json`` - the configuration (dataset, generator, preset, seed, methods, images,
  overrides, metrics, and the thread count the check pins for its run);
* ``reference.csv`` - per (method, metric): the mean the reference run gave;
* ``tolerances.json`` - per metric: ``abs`` and ``rel`` tolerance (a change is within tolerance
  when ``|new - ref| <= abs + rel * |ref|``) and, beside them, the measured ``spread`` they were
  derived from.

Why the verdict is portable: the check pins its own run to ``config["threads"]`` intra-op threads
(default 1) with deterministic algorithms on, so the thread count a CI machine offers (or
``OMP_NUM_THREADS``) cannot change a number; and the reference configuration is chosen so the
optimisation is not chaotic, so what still differs between machines (another CPU's vector
width and reduction order) moves each metric by about the spread measured across thread counts,
far inside the tolerance.

A change beyond tolerance in the metric's *worse* direction is a regression; in the *better*
direction it is reported with a hint to ``--update`` and passes, so an improvement is recorded
deliberately. Time is never compared. A metric that cannot run here (weights absent) is listed as
not compared; if nothing at all could be compared the check fails. Exit status of the CLI:
0 pass, 1 regression, 2 usage or setup error (bad flag, unreadable reference, ...).
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import pandas as pd

from ..errors import ConfigError, DatasetError
from . import distributed

log = logging.getLogger("gani_bench.check")

#: the project's own reference, installed with the package
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
REFERENCE_TABLE = "reference.csv"
TOLERANCES = "tolerances.json"
CONFIG = "config.json"
#: threads the check pins for its own run unless the reference's config.json says otherwise
DEFAULT_THREADS = 1
#: exit status of ``gani-bench check``
EXIT_PASS, EXIT_REGRESSION, EXIT_SETUP = 0, 1, 2
STATUSES = ("ok", "IMPROVED", "REGRESSION", "MISSING", "NOT COMPARED")


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

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_REGRESSION


def load_reference(reference_dir: Path) -> Tuple[Dict[str, Any], Dict[str, Any], Optional[pd.DataFrame]]:
    """(config, tolerances, table or None) of a reference folder; one-line errors when unusable."""
    reference_dir = Path(reference_dir)
    if not (reference_dir / CONFIG).is_file():
        raise ConfigError(f"reference folder {reference_dir} has no {CONFIG}; create one with "
                          f"`gani-bench check --init {reference_dir} --from RUN_DIR`")
    try:
        config = json.loads((reference_dir / CONFIG).read_text())
        tolerances = json.loads((reference_dir / TOLERANCES).read_text()) if (reference_dir / TOLERANCES).is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{reference_dir}: {CONFIG}/{TOLERANCES} unreadable ({exc}); recreate it with `gani-bench check --init`") from None
    for key in ("methods", "metrics"):
        if not config.get(key):
            raise ConfigError(f"{reference_dir / CONFIG} names no {key}; add a list of {key} or recreate it with `gani-bench check --init`")
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


@contextlib.contextmanager
def pinned_threads(threads: Optional[int]) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads and deterministic algorithms, then restore both.

    Why: CPU float32 results change with the thread count (the reduction order of matmul and
    convolution), and an optimisation amplifies that; pinning makes a check's numbers the same
    whatever ``OMP_NUM_THREADS`` the CI machine sets. ``None`` leaves the machine's setting.
    """
    import torch

    before, det, warn = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), \
        torch.is_deterministic_algorithms_warn_only_enabled()
    if threads is not None:
        torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(det, warn_only=warn)


def run_reference_config(config: Mapping[str, Any], run_dir: Path, *, overrides: Sequence[str] = (),
                         methods: Optional[Sequence[str]] = None, threads: Optional[int] = None,
                         progress: bool = False) -> Tuple[pd.DataFrame, Dict[str, str]]:
    """Run ``config`` from scratch in ``run_dir``; returns (method, metric, mean, n) rows and the unavailable metrics."""
    from . import runner

    runner.clear_results(run_dir)  # a check always starts clean: resuming would compare stale rows
    cfg = runner.RunConfig(
        methods=list(methods or config["methods"]), dataset=config.get("dataset", "demo"),
        generator=config.get("generator"), preset=config.get("preset", "fast"),
        overrides=list(config.get("overrides", [])) + list(overrides), limit=config.get("limit"),
        batch_size=int(config.get("batch_size", 1)), device=config.get("device", "cpu"), seed=int(config.get("seed", 0)),
        out=run_dir, edits=config.get("edits", "none"), metrics=config.get("metrics"), progress=progress, report=False,
    )
    with pinned_threads(threads):
        result = runner.run(cfg)
    summary = result.table
    if summary is None:  # a torchrun rank other than 0: it ran its shard; rank 0 compares
        return pd.DataFrame(columns=["method", "metric", "mean", "n"]), dict(result.unavailable_metrics)
    wanted = config.get("metrics") or list(summary["metric"].unique())
    current = summary[summary["metric"].isin(wanted)][["method", "metric", "mean", "n"]].reset_index(drop=True)
    return current, dict(result.unavailable_metrics)


def run_check(update: bool = False, *, reference_dir: Union[str, Path, None] = None, out: Union[str, Path, None] = None,
              overrides: Optional[Sequence[str]] = None, methods: Optional[Sequence[str]] = None,
              progress: bool = False) -> CheckResult:
    """Run the reference configuration from scratch and compare (or, with ``update``, rewrite the table)."""
    reference_dir = Path(reference_dir) if reference_dir else REFERENCE_DIR
    config, tolerances, reference = load_reference(reference_dir)
    if reference is None and not update:
        raise DatasetError(f"{reference_dir / REFERENCE_TABLE} is missing; create it with `gani-bench check --update --reference {reference_dir}`")
    run_dir = Path(out) if out else Path("runs") / "check"
    current, unavailable = run_reference_config(config, run_dir, overrides=list(overrides or []), methods=methods,
                                                threads=config.get("threads", DEFAULT_THREADS), progress=progress)
    if not distributed.env_world().is_main:  # under torchrun: this rank ran its shard; rank 0 compares or updates
        return CheckResult(passed=True, rows=compare(current, current, tolerances, unavailable), run_dir=run_dir,
                           messages=["this rank's shard is done; rank 0 compares"])
    messages = [f"{name}: not compared ({reason})" for name, reason in unavailable.items()]
    if update:
        reference_dir.mkdir(parents=True, exist_ok=True)
        current.sort_values(["method", "metric"]).to_csv(reference_dir / REFERENCE_TABLE, index=False, float_format="%.8g")
        messages.append(f"reference table rewritten: {reference_dir / REFERENCE_TABLE}")
        rows = compare(current, current, tolerances, unavailable)
        return CheckResult(passed=True, rows=rows, run_dir=run_dir, updated=True, messages=messages)
    rows = compare(reference, current, tolerances, unavailable)
    compared = rows[rows["status"].isin(["ok", "REGRESSION", "IMPROVED"])]
    bad = rows["status"].isin(["REGRESSION", "MISSING"]).any() or compared.empty
    if (rows["status"] == "IMPROVED").any():
        messages.append("some metrics improved beyond tolerance; if intended, record them with `gani-bench check --update`")
    if compared.empty:
        messages.append("no metric could be compared (all unavailable here)")
    return CheckResult(passed=not bad, rows=rows, run_dir=run_dir, messages=messages)
