"""Discovery of methods and metrics: built-in modules, baselines, and third-party entry points.

Importing a plugin module registers it (``@METHODS.register`` / ``@METRICS.register``). The
harness calls :func:`load_plugins` once, so a new method or metric is one new file in
``gani_bench/methods``, ``gani_bench/metrics``, ``baselines/`` or an installed package that
declares an entry point in the ``gani_bench.plugins`` group.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from importlib import metadata
from typing import List

_PLUGIN_PACKAGES = ("gani_bench.metrics", "gani_bench.methods", "gani_bench.baselines")
#: comma-separated modules a run (and ``methods list``) imports too: a method or metric in a user's file
PLUGINS_ENV = "GANI_BENCH_PLUGINS"
_loaded = False


def _import_submodules(package_name: str) -> List[str]:
    package = importlib.import_module(package_name)
    names = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        full = f"{package_name}.{info.name}"
        importlib.import_module(full)
        names.append(full)
    return names


def plugins_loaded() -> bool:
    """Whether :func:`load_plugins` has run in this process (the registries are then complete)."""
    return _loaded


def load_plugins() -> None:
    """Import every built-in plugin module and every ``gani_bench.plugins`` entry point."""
    global _loaded
    if _loaded:
        return
    for package_name in _PLUGIN_PACKAGES:
        _import_submodules(package_name)
    for entry_point in metadata.entry_points(group="gani_bench.plugins"):
        entry_point.load()
    from .methods.base import METHODS
    from .methods.catalog import EMBEDDING_CARDS, METHOD_CARDS, REFINEMENT_CARDS
    from .methods.compose import register_curated
    from .methods.stages import EMBEDDINGS, REFINEMENTS

    register_curated()  # the curated EMBEDDING+REFINEMENT methods, once every stage is registered
    # built-ins in the catalogue's order (not import order), third-party ones after them
    for registry, cards in ((METHODS, METHOD_CARDS), (EMBEDDINGS, EMBEDDING_CARDS), (REFINEMENTS, REFINEMENT_CARDS)):
        registry.reorder(cards.names())
    _loaded = True


def extra_plugin_modules() -> List[str]:
    """The module names in ``$GANI_BENCH_PLUGINS`` (empty when unset)."""
    return [s.strip() for s in os.environ.get(PLUGINS_ENV, "").split(",") if s.strip()]


def import_extra_plugins() -> None:
    """Import modules named in ``$GANI_BENCH_PLUGINS`` (a method or metric in a user's file)."""
    from .errors import ConfigError

    for name in extra_plugin_modules():
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"${PLUGINS_ENV} names module {name!r} which cannot be imported ({exc}); fix the name or PYTHONPATH") from None
