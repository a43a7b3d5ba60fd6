"""gani-bench: GaNI and GAN-inversion baselines on StyleGAN2, benchmarked fairly.

The Python API mirrors the CLI::

    import gani_bench
    result = gani_bench.run(methods=["gani"], dataset="demo")
    gani_bench.report([result.run_dir])

Attributes are imported lazily so ``import gani_bench`` stays cheap (no torch model builds).
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> (module, attribute)
_LAZY = {
    "run": ("gani_bench.api", "run"),
    "report": ("gani_bench.api", "report"),
    "check": ("gani_bench.api", "check"),
    "load_generator": ("gani_bench.generators", "load_generator"),
    "METRICS": ("gani_bench.metrics.base", "METRICS"),
    "METHODS": ("gani_bench.methods.base", "METHODS"),
    "load_plugins": ("gani_bench.plugins", "load_plugins"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gani_bench' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
