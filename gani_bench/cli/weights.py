"""``gani-bench weights``: see which pretrained weights are in the cache, and fetch them.

A thin layer over :mod:`gani_bench.weights`; errors are :class:`GaniBenchError` lines that the
main entry point prints without a traceback.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import click

from ..errors import ChecksumMismatch, WeightsUnavailable
from ..weights import WEIGHTS, WEIGHT_KINDS, cache_dir, cached, fetch, fetch_all, names_of_kind


def _human(size: Optional[int]) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _row(name: str) -> Tuple[str, ...]:
    spec = WEIGHTS.get(name)
    try:
        hit = cached(name)
    except ChecksumMismatch:
        hit, status = None, "corrupt"
    else:
        status = "missing" if hit is None else ("installed" if hit.source.kind == "installed" else "present")
    if hit is not None:
        size: Optional[int] = hit.path.stat().st_size
    else:
        size = next((s.size for s in spec.sources if s.size is not None), None)
    return (name, spec.kind, status, _human(size), spec.license)


def _table(rows: List[Tuple[str, ...]], header: Tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for r in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@click.group("weights")
def weights() -> None:
    """Pretrained weights: list what is cached, download what is missing."""


@weights.command("list")
@click.option("--kind", type=click.Choice(WEIGHT_KINDS), default=None, help="Only weights of this kind.")
def list_weights(kind: Optional[str]) -> None:
    """Table of registered weights: name, kind, present/missing, size, license."""
    rows = [_row(name) for name in names_of_kind(kind)]
    click.echo(_table(rows, ("name", "kind", "status", "size", "license")))
    click.echo(f"cache: {cache_dir()}")


@weights.command("download")
@click.argument("name", required=False)
@click.option("--all-of-kind", "kind", type=click.Choice(WEIGHT_KINDS), default=None,
              help="Download every registered weights file of this kind.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def download(name: Optional[str], kind: Optional[str], quiet: bool) -> None:
    """Download NAME (or every weights file of a kind) into the cache and verify it."""
    if (name is None) == (kind is None):
        raise click.UsageError("give either NAME or --all-of-kind KIND")
    if name is not None:
        local = fetch(name, progress=not quiet)
        click.echo(f"{name}: {local.path}")
        return
    names = names_of_kind(kind)
    done, errors = fetch_all(names, progress=not quiet)
    for local in done:
        click.echo(f"{local.spec.name}: {local.path}")
    for line in errors:
        click.echo(f"error: {line}", err=True)
    if errors:
        raise WeightsUnavailable(f"{len(errors)} of {len(names)} weights of kind {kind} could not be fetched "
                                 "(see the lines above)")
