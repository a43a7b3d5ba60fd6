"""CLI commands of the harness: ``run``, ``report``, ``check`` and ``datasets``.

Thin layer: parse options, call :mod:`gani_bench.api`, print. Logging goes through
``tqdm.write`` so one-line warnings (skipped images, unavailable metrics) do not break the
progress bars.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional, Sequence, Tuple

import click

from ..interface import cli_vocabulary
from ..registry import Registry


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except (OSError, ValueError):
            self.handleError(record)


def setup_logging(verbose: bool = False) -> None:
    """One plain line per message on stderr (``gani_bench`` loggers only)."""
    logger = logging.getLogger("gani_bench")
    if any(isinstance(h, _TqdmHandler) for h in logger.handlers):
        return
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def _split(values: Sequence[str]) -> list:
    out = []
    for v in values:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


@click.command("run")
@click.option("--method", "-m", "methods", multiple=True, default=("all",), show_default=True,
              help="Method name(s), repeatable or comma-separated, or 'all'.")
@click.option("--dataset", "-d", default="demo", show_default=True, help="Dataset name, manifest .json or image folder.")
@click.option("--generator", "-g", default=None, help="Registered generator name or checkpoint path (default: the dataset's).")
@click.option("--preset", default=None, metavar="NAME",
              help="A preset every selected method offers, e.g. paper, fast, mse, fast_mse (see `gani-bench methods list`; "
                   "default: fast for the demo dataset, paper otherwise).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Config override: key=value (every method with that field) or method.key=value. Repeatable.")
@click.option("--limit", type=int, default=None, help="Use only the first N images (N >= 1).")
@click.option("--batch-size", type=int, default=1, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (default: what the machine offers; printed once). Use fewer on a shared machine.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Run directory (default runs/<dataset>; the same command resumes it).")
@click.option("--edits", default="default", show_default=True, help="Edit names (comma-separated), 'default' or 'none'.")
@click.option("--metrics", default=None, help="Metric names (comma-separated) or all; default: every metric with --preset paper, the cheaper set with fast.")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Image root for datasets whose images you provide.")
@click.option("--align", type=click.Choice(["dlib", "mtcnn"]), default=None, help="Align faces in a folder dataset first.")
@click.option("--save-deltas", is_flag=True, help="Also save latents and weight deltas (safetensors) per image.")
@click.option("--force", is_flag=True, help="Discard results in --out made with a different config.")
@click.option("--retry-failed", is_flag=True, help="Run images again that failed before.")
@click.option("--report-out", type=click.Path(path_type=Path), default=None, help="Report folder (default <out>/report).")
@click.option("--no-report", is_flag=True, help="Do not write the report at the end.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def run(methods: Tuple[str, ...], dataset: str, generator: Optional[str], preset: Optional[str], overrides: Tuple[str, ...],
        limit: Optional[int], batch_size: int, device: str, seed: int, out: Optional[Path], edits: str,
        metrics: Optional[str], root: Optional[Path], align: Optional[str], save_deltas: bool, force: bool,
        retry_failed: bool, report_out: Optional[Path], no_report: bool, no_progress: bool, threads: Optional[int]) -> None:
    """Invert a dataset with one or more methods; one result row per (method, image), resumable."""
    from .. import api

    setup_logging()
    edit_spec = "none" if edits == "none" else ("default" if edits == "default" else _split([edits]))
    with cli_vocabulary():  # also when this command is invoked on its own (tests, other groups)
        res = api.run(methods=_split(methods), dataset=dataset, generator=generator, preset=preset,
                      overrides=list(overrides), limit=limit, batch_size=batch_size, device=device, seed=seed, out=out,
                      edits=edit_spec, metrics=_split([metrics]) if metrics else None, root=root, align=align,
                      save_deltas=save_deltas, force=force, retry_failed=retry_failed, progress=not no_progress,
                      report=not no_report, report_out=report_out, threads=threads)
    if res.report_dir is not None:
        md = res.report_dir / "table1.md"
        if md.is_file():
            click.echo(md.read_text())
        click.echo(f"results: {res.run_dir}   report: {res.report_dir / 'report.html'}")
    elif res.table is not None:
        click.echo(f"results: {res.run_dir}")


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
@click.option("--title", default="gani-bench report", show_default=True)
def report(run_dirs: Tuple[Path, ...], out: Path, title: str) -> None:
    """Tables (CSV, Markdown, LaTeX), HTML page, grids and plots of one or more run directories."""
    from .. import api

    setup_logging()
    rep = api.report(list(run_dirs), out=out, title=title)
    md = rep.out / "table1.md"
    if md.is_file():
        click.echo(md.read_text())
    click.echo(f"report: {rep.out / 'report.html'}")


@click.command("check")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="Reference folder (config.json, reference.csv, tolerances.json); default: the one installed with gani-bench.")
@click.option("--init", "init_dir", type=click.Path(path_type=Path), default=None,
              help="Write a new reference folder here from --from RUN_DIR (re-runs its config at 1, 2 and 4 threads to set tolerances).")
@click.option("--from", "from_run", type=click.Path(path_type=Path), default=None, help="Finished run directory for --init.")
@click.option("--update", is_flag=True, help="Rewrite the reference table (reference.csv) from this run.")
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write JUnit XML: one test case per (method, metric).")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Run directory (default runs/check).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Extra config override (to test the check).")
@click.pass_context
def check(ctx: click.Context, reference: Optional[Path], init_dir: Optional[Path], from_run: Optional[Path], update: bool,
          junit_xml: Optional[Path], out: Optional[Path], overrides: Tuple[str, ...]) -> None:
    """Re-run a reference configuration and compare with its table (CI regression gate).

    Exit status: 0 pass, 1 regression (or a metric missing), 2 usage or setup error.
    """
    import time

    from ..errors import ConfigError

    setup_logging()
    if init_dir is not None or from_run is not None:
        if init_dir is None or from_run is None:
            raise ConfigError("--init DIR and --from RUN_DIR go together: `gani-bench check --init DIR --from RUN_DIR`")
        if update or reference or junit_xml or overrides:
            raise ConfigError("--init writes a reference; run `gani-bench check --reference DIR` afterwards to compare")
        from ..harness.check_reference import init_reference

        for msg in init_reference(init_dir, from_run):
            click.echo(msg)
        return
    from ..harness.check import format_rows, run_check
    from ..harness.check_junit import write_junit

    from ..harness.distributed import env_world

    t0 = time.perf_counter()
    res = run_check(update=update, reference_dir=reference, out=out, overrides=list(overrides))
    if not env_world().is_main:  # under torchrun, rank 0 alone reports (and writes the XML)
        return
    click.echo(format_rows(res.rows))
    for msg in res.messages:
        click.echo(msg)
    if junit_xml is not None:
        click.echo(f"junit xml: {write_junit(res.rows, junit_xml, seconds=time.perf_counter() - t0)}")
    if not res.passed:
        n = len(res.rows[res.rows["status"].isin(["REGRESSION", "MISSING"])])
        click.echo(f"check FAILED: {n} regression(s) beyond tolerance", err=True)
        ctx.exit(res.exit_code)
    click.echo("check passed" if not update else "reference updated")


# ------------------------------------------------------------------------------- datasets
#: dataset name -> function(root: Path) -> manifest path
PREPARERS: Registry = Registry("preparable dataset")


def _prepare_celebahq(root: Path) -> Path:
    from ..harness.celebahq import prepare_celebahq

    return prepare_celebahq(root)


PREPARERS.add("celebahq", _prepare_celebahq)


@click.group("datasets")
def datasets() -> None:
    """List datasets, or prepare one from your download."""


@datasets.command("list")
def datasets_list() -> None:
    """Registered datasets, their generator and whether they are ready to run."""
    from ..harness.datasets import list_datasets

    rows = list_datasets()
    w = max(len(r["name"]) for r in rows) if rows else 4
    for r in rows:
        click.echo(f"{r['name']:<{w}}  {r['generator']:<22} {r['resolution']:>5}  {r['status']}")
        click.echo(f"{'':<{w}}  {r['description']}")
    click.echo("(any folder of images is accepted too: --dataset path/to/folder)")


@datasets.command("prepare")
@click.argument("name")
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of your download (for celebahq: the CelebAMask-HQ folder).")
def datasets_prepare(name: str, root: Path) -> None:
    """Build a dataset's manifest from your download (e.g. the CelebA-HQ test split)."""
    setup_logging()
    path = PREPARERS.get(name)(root)
    click.echo(f"prepared {name}: {path}")
