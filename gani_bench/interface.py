"""The vocabulary of the interface the user called: CLI flags or Python keyword arguments.

A one-line error must name the fix in the words the user typed: ``--out``/``--force`` for
someone at the shell, ``out=``/``force=True`` for someone calling :func:`gani_bench.api.run`.
The code that raises (deep in the harness) cannot know which, so it asks this module. The
CLI enters :func:`cli_vocabulary` around its calls into the API; everything else (the Python
API, tests, notebooks) gets the keyword-argument spelling, which is the default.

A :class:`contextvars.ContextVar` (not a global) keeps concurrent callers (threads, async)
from seeing each other's interface.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

_INTERFACE: ContextVar[str] = ContextVar("gani_bench_interface", default="api")
_UNSET = object()


@contextmanager
def cli_vocabulary() -> Iterator[None]:
    """Within this block, :func:`opt` and :func:`flag` spell options as CLI flags."""
    token = _INTERFACE.set("cli")
    try:
        yield
    finally:
        _INTERFACE.reset(token)


def is_cli() -> bool:
    return _INTERFACE.get() == "cli"


def opt(name: str, value: Any = _UNSET) -> str:
    """An option as the user wrote it: ``--batch-size 0`` (CLI) or ``batch_size=0`` (API).

    Without ``value``: ``--out`` / ``out=``. ``name`` is the keyword-argument name.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)  # 'runs/x', not PosixPath('runs/x')
    if is_cli():
        flag_name = "--" + name.replace("_", "-")
        return flag_name if value is _UNSET else f"{flag_name} {value}"
    return f"{name}=" if value is _UNSET else f"{name}={value!r}"


def flag(name: str) -> str:
    """A boolean switch: ``--force`` (CLI) or ``force=True`` (API)."""
    return "--" + name.replace("_", "-") if is_cli() else f"{name}=True"
