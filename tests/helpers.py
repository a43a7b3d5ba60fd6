"""Plain helper functions shared by several test modules (fixtures live in ``conftest.py``).

Importable as ``helpers`` because pytest puts ``tests/`` on ``sys.path`` (rootdir conftest,
default ``prepend`` import mode); the subprocess tests put it on ``PYTHONPATH`` themselves, so
the plugin modules they load can import it too.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import pytest
import torch

from gani_bench.methods.base import InversionResult


# --------------------------------------------------------------------------------------------
# Checkpoint files and their errors (test_checkpoints, test_tf_pickle)


def pickle_globals(data: bytes, spelling: Optional[Mapping[str, str]] = None) -> set:
    """Every global a pickle asks for, found by an unpickler that resolves each to a dummy.

    ``spelling`` maps name fragments to the spelling to report (e.g. ``numpy._core.`` ->
    ``numpy.core.``), for streams whose names differ only by the writer's library versions.
    """
    seen = set()

    class Dummy:
        def __init__(self, *a: Any, **k: Any) -> None: ...
        def __setstate__(self, s: Any) -> None: ...
        def __setitem__(self, k: Any, v: Any) -> None: ...
        def append(self, v: Any) -> None: ...
        def extend(self, v: Any) -> None: ...

    class Logger(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            qualified = f"{module}.{name}"
            for old, new in (spelling or {}).items():
                qualified = qualified.replace(old, new)
            seen.add(qualified)
            return type("D", (Dummy,), {})

    Logger(io.BytesIO(data)).load()
    return seen


class Evil:
    """Pickles as the call ``func(arg)``: what a malicious checkpoint makes its loader run."""

    def __init__(self, func: Any, arg: Any) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> Any:
        return (self.func, (self.arg,))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    """``data`` written to ``tmp_path / name``; returns the path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def one_line_error(exc_info: pytest.ExceptionInfo, path: Optional[Path] = None) -> str:
    """The raised error's message, asserting it is one line and (if given) names ``path``."""
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    if path is not None:
        assert str(path) in msg, msg
    return msg


# --------------------------------------------------------------------------------------------
# Test-double inversion methods (runner, store/resume, check, distributed, benchmarks)


def mean_w_result(
    generator: torch.nn.Module,
    reconstruction: torch.Tensor,
    *,
    stage_seconds: Dict[str, float],
    steps: Dict[str, int],
) -> InversionResult:
    """A W-space result for a batch whose latents are all the generator's ``w_avg``.

    Test doubles fake the reconstruction; their latents only have to be valid W latents of the
    right shape ([N, num_ws, w_dim]) for the metrics and edits that read them. ``steps`` is
    repeated for every image, as a method with a fixed budget reports it.
    """
    n = reconstruction.shape[0]
    ws = generator.mapping.w_avg.reshape(1, 1, -1).repeat(n, generator.num_ws, 1)
    per_image_steps: List[Dict[str, int]] = [steps] * n
    return InversionResult(latents=ws, latent_space="w", reconstruction=reconstruction,
                           stage_seconds=stage_seconds, steps=per_image_steps)
