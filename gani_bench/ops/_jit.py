"""Build the optional fused CUDA kernels on first use, or explain once why we cannot.

Why a JIT build at all: StyleGAN2's resampling and bias+activation ops are memory bound, and a
fused kernel saves several full passes over the activations on a GPU. The pure-PyTorch
reference path computes the same function everywhere, so a failed build (no nvcc, no ninja,
mismatched compiler) must never be fatal: we warn ONCE per plugin, naming the cause and how to
silence it, and every later call silently takes the reference path.

Set ``GANI_BENCH_OPS=ref`` to skip the build entirely (``impl='auto'`` then means ``'ref'``).
"""
from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Dict, Optional, Sequence

from ..errors import GaniBenchError

#: folder holding the .cu / .cpp sources shipped as package data
CUDA_SRC_DIR = Path(__file__).resolve().parent / "cuda"
#: valid values of every op's ``impl`` argument
IMPLS = ("auto", "ref", "cuda")

_plugins: Dict[str, Optional[ModuleType]] = {}
_lock = threading.Lock()


class CudaOpsUnavailable(GaniBenchError):
    """``impl='cuda'`` was requested but the fused kernel cannot run here."""


def ops_forced_to_ref() -> bool:
    """True when the user asked for the reference path everywhere (``GANI_BENCH_OPS=ref``)."""
    return os.environ.get("GANI_BENCH_OPS", "").strip().lower() == "ref"


def _summarise(exc: BaseException) -> str:
    """The most telling line of a build failure (compiler logs are long; the cause is one line)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        low = ln.lower()
        if ("error" in low or "not found" in low or "no such file" in low) and not low.startswith("error building extension"):
            return ln
    return lines[0] if lines else type(exc).__name__


def get_plugin(name: str, sources: Sequence[str]) -> Optional[ModuleType]:
    """Return the compiled extension ``name`` or None; build it at most once per process.

    The first failure emits exactly one ``RuntimeWarning``; the result (module or None) is
    cached so later calls cost a dict lookup.
    """
    with _lock:
        if name in _plugins:
            return _plugins[name]
        module: Optional[ModuleType] = None
        try:
            import torch
            from torch.utils import cpp_extension

            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False")
            paths = [str(CUDA_SRC_DIR / s) for s in sources]
            module = cpp_extension.load(
                name=name,
                sources=paths,
                extra_cflags=["-O3"],
                extra_cuda_cflags=["-O3", "--use_fast_math"],
                verbose=False,
            )
        except Exception as exc:  # any build failure means: use the reference path
            first_line = _summarise(exc)
            warnings.warn(
                f"gani_bench: could not build the CUDA kernel {name!r} ({type(exc).__name__}: "
                f"{first_line[:300]}); using the slower pure-PyTorch reference path. If the "
                f"build looked for the toolkit in the wrong place, set CUDA_HOME; set "
                f"GANI_BENCH_OPS=ref to skip the build.",
                RuntimeWarning,
                stacklevel=3,
            )
            module = None
        _plugins[name] = module
        return module


def check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise GaniBenchError(f"unknown ops impl {impl!r}; use one of {', '.join(IMPLS)}")


def want_cuda(impl: str, is_cuda: bool, name: str, sources: Sequence[str]) -> Optional[ModuleType]:
    """Decide whether a call takes the fused kernel; return the plugin if so, else None.

    ``'ref'`` never builds; ``'auto'`` builds only for CUDA inputs and falls back quietly
    after the one warning; ``'cuda'`` insists and raises :class:`CudaOpsUnavailable` so a test
    that compares the two paths can never silently compare ref with ref.
    """
    check_impl(impl)
    if impl == "ref" or (impl == "auto" and (not is_cuda or ops_forced_to_ref())):
        return None
    if not is_cuda:
        raise CudaOpsUnavailable(f"{name}: impl='cuda' needs a CUDA tensor; move the input to a GPU or use impl='auto'")
    plugin = get_plugin(name, sources)
    if plugin is None and impl == "cuda":
        raise CudaOpsUnavailable(f"{name}: the CUDA kernel failed to build (see the earlier warning); use impl='auto' or 'ref'")
    return plugin
