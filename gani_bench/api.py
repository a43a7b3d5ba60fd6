"""The Python API of the harness; the CLI commands ``run``, ``report`` and ``check`` call these.

>>> from gani_bench.api import run, report
>>> res = run(methods=["pti", "gani"], dataset="demo", overrides={"tune_steps": 20}, limit=2, out="runs/mine")
>>> print(res.table1)    # Table 1 layout (pandas), one row per method; res.table: long summary
>>> report([res.run_dir], out="reports/mine")
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from .harness.check import CheckResult
from .harness.runner import RunConfig, RunResult

__all__ = ["run", "report", "check", "RunResult", "CheckResult"]


def run(methods: Union[str, Sequence[str]] = "all", dataset: str = "demo", generator: Any = None,
        preset: Optional[str] = None, overrides: Union[Mapping[str, Any], Sequence[str], None] = None,
        limit: Optional[int] = None, batch_size: int = 1, device: str = "auto", seed: int = 0,
        out: Union[str, Path, None] = None, edits: Union[str, Sequence[str], None] = "default",
        metrics: Optional[Sequence[str]] = None, root: Union[str, Path, None] = None, align: Optional[str] = None,
        save_deltas: bool = False, force: bool = False, retry_failed: bool = False, progress: bool = False,
        report: bool = True, report_out: Union[str, Path, None] = None, threads: Optional[int] = None) -> RunResult:
    """Invert every image of ``dataset`` with each method and store one row per (method, image).

    ``overrides``: ``{"tune_steps": 10, "pti.tune_lr": 1e-3}`` or ``["tune_steps=10", "pti.tune_lr=1e-3"]`` - a bare
    key applies to every selected method with that config field. ``generator``: a registered
    name, a checkpoint path or a Generator module. ``out`` defaults to ``runs/<dataset>``; running
    again with the same arguments resumes. ``threads``: CPU threads (None = what the machine offers).
    Errors name these keyword arguments (``out=``, ``force=True``), not the CLI's flags.
    Returns the run directory and its summary table.
    """
    from .harness import runner

    cfg = RunConfig(methods=methods, dataset=dataset, generator=generator, preset=preset, overrides=overrides or (),
                    limit=limit, batch_size=batch_size, device=device, seed=seed, out=out, edits=edits,
                    metrics=metrics, root=root, align=align, save_deltas=save_deltas, force=force,
                    retry_failed=retry_failed, progress=progress, report=report, report_out=report_out,
                    threads=threads)
    return runner.run(cfg)


def report(run_dirs: Union[str, Path, Sequence[Union[str, Path]]], out: Union[str, Path] = "reports", **kwargs: Any):
    """Write tables (CSV/Markdown/LaTeX), the HTML page, grids and plots for ``run_dirs`` into ``out``."""
    from .report import build_report

    dirs = [run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)
    return build_report(dirs, out, **kwargs)


def check(update: bool = False, **kwargs: Any) -> CheckResult:
    """Re-run a reference configuration and compare (see harness.check); ``reference_dir=`` picks the
    folder (default: the one installed with gani-bench)."""
    from .harness.check import run_check

    return run_check(update=update, **kwargs)
