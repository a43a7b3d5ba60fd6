"""The metrics of one run, instantiated once; unavailable ones keep their one-line reason."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..errors import GaniBenchError, WeightsUnavailable
from ..metrics.base import METRICS, EditContext

log = logging.getLogger("gani_bench.run")


class MetricSet:
    """Instantiated metrics; the unavailable ones carry their one-line reason instead."""

    def __init__(self, names: Optional[Sequence[str]], device: torch.device) -> None:
        self.image: List[Tuple[str, Any]] = []
        self.edit: List[Tuple[str, Any]] = []
        self.unavailable: Dict[str, str] = {}
        #: metric -> {method: reason} where an edit metric cannot run for that method (LEC without an encoder)
        self.partial: Dict[str, Dict[str, str]] = {}
        for name in names if names is not None else METRICS.names():
            cls = METRICS.get(name)
            try:
                metric = cls(device)
                reason = metric.unavailable_reason()
            except GaniBenchError as exc:
                reason = str(exc)
            if reason is not None:
                self.mark_unavailable(name, reason)
                continue
            (self.edit if getattr(cls, "kind", "image") == "edit" else self.image).append((name, metric))

    def mark_unavailable(self, name: str, reason: str) -> None:
        if name not in self.unavailable:
            self.unavailable[name] = reason
            log.warning("metric %s unavailable: %s", name, reason)
        self.image = [(n, m) for n, m in self.image if n != name]
        self.edit = [(n, m) for n, m in self.edit if n != name]

    def partial_note(self, name: str) -> str:
        """One line: which methods a metric has no values for, and why (the first reason)."""
        per = self.partial[name]
        return f"not computed for {', '.join(per)}: {next(iter(per.values()))}"

    def compute(self, pred: torch.Tensor, target: torch.Tensor, ctx_factory: Callable[[], EditContext],
                method: Optional[str] = None) -> List[Dict[str, float]]:
        n = pred.shape[0]
        values: List[Dict[str, float]] = [{} for _ in range(n)]
        for name, metric in list(self.image):
            col = self._guard(name, lambda: {name: metric.compute(pred, target)})
            self._spread(col, values)
        if self.edit:
            ctx = ctx_factory()
            for name, metric in list(self.edit):
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
            # one metric failing on one batch must not lose the row: its value is NaN
            log.warning("metric %s failed on this batch (%s: %s); recorded as missing", name, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return {}

    @staticmethod
    def _spread(cols: Dict[str, torch.Tensor], values: List[Dict[str, float]]) -> None:
        for col, tensor in cols.items():
            flat = torch.as_tensor(tensor).detach().float().cpu().reshape(-1)
            for i, v in enumerate(flat.tolist()[: len(values)]):
                values[i][col] = v
