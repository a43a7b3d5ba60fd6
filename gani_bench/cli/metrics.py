"""``gani-bench metrics``: which metrics exist, which way is better, and whether they can run here.

A thin layer over :data:`gani_bench.metrics.base.METRICS`; every plugin module is imported first
(:func:`gani_bench.plugins.load_plugins`), so third-party metrics show up too.
"""
from __future__ import annotations

from typing import List, Tuple

import click

from ..metrics.base import METRICS
from ..plugins import load_plugins


def metric_rows() -> List[Tuple[str, str, str, str, str]]:
    """(name, direction, kind, status, summary-or-reason) for every registered metric."""
    load_plugins()
    rows = []
    for name, cls in METRICS.items():
        reason = cls().unavailable_reason()
        better = "lower is better" if cls.direction == "lower" else "higher is better"
        status = "ready" if reason is None else "missing weights"
        rows.append((name, better, cls.kind, status, cls.summary if reason is None else reason))
    return rows


@click.group("metrics")
def metrics() -> None:
    """Evaluation metrics: list them with their direction and weight status."""


@metrics.command("list")
def list_metrics() -> None:
    """Each metric: direction, kind, and whether its weights are present (else the fix)."""
    rows = metric_rows()
    header = ("name", "direction", "kind", "status", "details")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join([c.ljust(w) for c, w in zip(row, widths)] + [row[-1]]).rstrip())
