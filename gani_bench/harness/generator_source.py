"""Where a run's generator comes from: a module, a registered name or a checkpoint path, plus the
cache of generators that manifest images (rendered targets) need besides the run's own."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch


def resolve_generator(spec: Any, default_name: Optional[str], device: torch.device) -> Tuple[Any, Any, str]:
    """Return ``(G, info, name)``; ``spec`` is a module, a registered name or a checkpoint path."""
    if isinstance(spec, torch.nn.Module):
        return spec.to(device).eval(), getattr(spec, "info", None), str(getattr(spec, "name", "custom-generator"))
    name = str(spec) if spec else (default_name or "embedded-64")
    from ..generators import load_generator

    G, info = load_generator(name, device)
    return G.eval(), info, name


class GeneratorCache:
    """Generators needed to render manifest images, the run's own generator included."""

    def __init__(self, run_generator: Any, run_name: str, device: torch.device) -> None:
        self._cache: Dict[str, Any] = {run_name: run_generator}
        self.device = device

    def __call__(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = resolve_generator(name, None, self.device)[0]
        return self._cache[name]
