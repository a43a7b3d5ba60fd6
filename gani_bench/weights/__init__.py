"""Pretrained weights: a named registry, a verified on-disk cache and the downloader.

``fetch(name)`` returns a :class:`LocalWeights` (path, format, spec, source) from the cache
(``$GANI_BENCH_HOME`` or ``~/.cache/gani_bench``), downloading it first if needed;
``missing_weights_reason(name)`` lets offline code skip cleanly with the command that fixes it.
"""
from __future__ import annotations

from .cache import cache_dir, cached, missing_weights_reason
from .download import fetch, fetch_all
from .registry import WEIGHTS, names_of_kind, register
from .spec import SOURCE_KINDS, WEIGHT_KINDS, LocalWeights, Source, WeightSpec

__all__ = [
    "WEIGHTS", "WeightSpec", "Source", "LocalWeights", "fetch", "fetch_all", "cached",
    "missing_weights_reason", "cache_dir", "register", "names_of_kind", "SOURCE_KINDS", "WEIGHT_KINDS",
]
