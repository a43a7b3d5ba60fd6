"""The metrics of one run: weights fetched up front, availability decided once, images scored as saved.

Why up front: a metric whose weights are fetched lazily can be reported unavailable at the start
of a run and then have its weights downloaded minutes later by a method that needs the same
backbone (GaNI's LPIPS loss), leaving a report that contradicts the cache. So, before any image
is inverted, every selected metric's weights are fetched (downloaded when absent, the same way
methods fetch theirs) and the metric is either usable for the whole run or unavailable for the
whole run, with its one-line reason. The unavailable ones are summarised in one log line.

Why "as saved": the papers' evaluation scripts (and GANInverter) score the PNGs they wrote, so
reconstructions and targets go through the uint8 PNG round trip (:func:`images.as_saved`) before
any image metric, and image metrics are computed one image at a time so a batch's composition
cannot change a value. A metric computed during a run and one recomputed later from the run's
PNGs (``metric_fill``) are then the same number.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..errors import ChecksumMismatch, GaniBenchError, WeightsUnavailable
from ..metrics.base import METRICS, EditContext
from .images import as_saved

log = logging.getLogger("gani_bench.run")


def fetch_metric_weights(cls: type, *, progress: bool = False) -> Optional[str]:
    """Fetch every weight file ``cls`` declares; None when all are here, else the first one-line reason."""
    from ..weights import fetch

    for name in getattr(cls, "weights", ()):
        try:
            fetch(name, progress=progress)
        except (WeightsUnavailable, ChecksumMismatch) as exc:
            return str(exc).splitlines()[0] if str(exc) else f"{name} weights could not be fetched"
    return None


def missing_weight_names(cls: type) -> List[str]:
    """The weight names of ``cls`` that are not in the cache now."""
    from ..weights import missing_weights_reason

    return [w for w in getattr(cls, "weights", ()) if missing_weights_reason(w) is not None]


class MetricSet:
    """Instantiated metrics; the unavailable ones carry their one-line reason instead."""

    def __init__(self, names: Optional[Sequence[str]], device: torch.device, *, fetch: bool = True,
                 progress: bool = False) -> None:
        self.image: List[Tuple[str, Any]] = []
        self.edit: List[Tuple[str, Any]] = []
        self.unavailable: Dict[str, str] = {}
        #: metric name -> weight names missing when it was found unavailable (for the summary line)
        self._missing_weights: Dict[str, List[str]] = {}
        self.requested: List[str] = list(names if names is not None else METRICS.names())
        #: metric -> {method: reason} where an edit metric cannot run for that method (LEC without an encoder)
        self.partial: Dict[str, Dict[str, str]] = {}
        for name in self.requested:
            cls = METRICS.get(name)
            reason = fetch_metric_weights(cls, progress=progress) if fetch else None
            metric = None
            if reason is None:
                try:
                    metric = cls(device)
                    reason = metric.unavailable_reason()
                except GaniBenchError as exc:
                    reason = str(exc)
            if reason is not None:
                self.unavailable[name] = reason
                self._missing_weights[name] = missing_weight_names(cls)
                continue
            (self.edit if getattr(cls, "kind", "image") == "edit" else self.image).append((name, metric))

    @property
    def image_names(self) -> List[str]:
        return [n for n, _ in self.image]

    def summary_line(self) -> Optional[str]:
        """One line naming every unavailable metric and the command(s) that fix it (None: all available)."""
        if not self.unavailable:
            return None
        weights = sorted({w for n in self.unavailable for w in self._missing_weights.get(n, [])})
        by_weights = [n for n in self.unavailable if self._missing_weights.get(n)]
        others = [n for n in self.unavailable if not self._missing_weights.get(n)]
        parts = []
        if by_weights:
            parts.append(f"{', '.join(by_weights)} (weights missing; run: gani-bench weights download {' '.join(weights)})")
        for n in others:
            parts.append(f"{n} ({self.unavailable[n]})")
        return f"{len(self.unavailable)} metric(s) not computed in this run: " + "; ".join(parts)

    def mark_unavailable(self, name: str, reason: str) -> None:
        """A metric that fails for want of weights mid-run (should not happen after the up-front fetch)."""
        if name not in self.unavailable:
            self.unavailable[name] = reason
            log.warning("metric %s became unavailable during the run: %s", name, reason)
        self.image = [(n, m) for n, m in self.image if n != name]
        self.edit = [(n, m) for n, m in self.edit if n != name]

    def partial_note(self, name: str) -> str:
        """One line: which methods a metric has no values for, and why (the first reason)."""
        per = self.partial[name]
        return f"not computed for {', '.join(per)}: {next(iter(per.values()))}"

    def compute_image(self, pred: torch.Tensor, target: torch.Tensor,
                      only: Optional[Sequence[str]] = None) -> List[Dict[str, float]]:
        """Image metrics of each (pred, target) pair, scored as saved (uint8) and one image at a time."""
        pred, target = as_saved(pred), as_saved(target)
        values: List[Dict[str, float]] = [{} for _ in range(pred.shape[0])]
        for name, metric in list(self.image):
            if only is not None and name not in only:
                continue
            for i in range(pred.shape[0]):
                p, q = pred[i : i + 1], target[i : i + 1]
                # a metric may give extra per-image columns (``name/sub``) through compute_columns
                col = self._guard(name, lambda: metric.compute_columns(p, q) if hasattr(metric, "compute_columns")
                                  else {name: metric.compute(p, q)})
                self._spread(col, values[i : i + 1])
        return values

    def compute(self, pred: torch.Tensor, target: torch.Tensor, ctx_factory: Callable[[], EditContext],
                method: Optional[str] = None) -> List[Dict[str, float]]:
        values = self.compute_image(pred, target)
        if self.edit:
            for i, edit_values in enumerate(self.compute_edit(ctx_factory(), method=method)):
                values[i].update(edit_values)
        return values

    @property
    def refillable_edit_names(self) -> List[str]:
        """Edit metrics a resume can compute from saved latents and deltas (not those needing an encoder)."""
        return [n for n, m in self.edit if not getattr(m, "needs_encoder", False)]

    def compute_edit(self, ctx: EditContext, method: Optional[str] = None,
                     only: Optional[Sequence[str]] = None) -> List[Dict[str, float]]:
        """Edit metrics of every image of ``ctx`` (targets as saved: the runner and a resume alike)."""
        values: List[Dict[str, float]] = [{} for _ in range(ctx.latents.shape[0])]
        for name, metric in list(self.edit):
            if only is not None and name not in only:
                continue
            why = getattr(metric, "unavailable_for", None)
            reason = why(ctx) if callable(why) and method is not None else None
            if reason is not None:
                self.partial.setdefault(name, {})[method] = reason
            self._spread(self._guard(name, lambda: metric.compute_edit(ctx)), values)
        return values

    def _guard(self, name: str, fn: Callable[[], Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
        try:
            with torch.no_grad():
                return fn()
        except WeightsUnavailable as exc:
            self.mark_unavailable(name, str(exc))
        except (GaniBenchError, RuntimeError, ValueError) as exc:
            # one metric failing on one batch must not lose the row: its column stays missing
            log.warning("metric %s failed on this batch (%s: %s); recorded as missing", name, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return {}

    @staticmethod
    def _spread(cols: Dict[str, torch.Tensor], values: List[Dict[str, float]]) -> None:
        for col, tensor in cols.items():
            flat = torch.as_tensor(tensor).detach().float().cpu().reshape(-1)
            for i, v in enumerate(flat.tolist()[: len(values)]):
                values[i][col] = v
