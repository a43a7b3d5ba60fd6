"""The device and CPU threads of a run: ``--device`` checked up front, ``--threads`` applied once.

A device string torch cannot use (``gpu``) or cannot reach (``cuda`` on a machine without a
CUDA driver, ``cuda:1`` with one GPU) would otherwise surface as a long traceback from deep
inside the first tensor copy; here it is one line with the fix.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import ConfigError
from ..interface import opt

#: what ``--device`` accepts (besides ``cuda:N``), for the messages
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def parse_device(text: str) -> torch.device:
    """``auto|cpu|cuda|cuda:N|mps`` -> a device this machine has, else a one-line ConfigError."""
    text = str(text).strip()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise ConfigError(f"{opt('device', text)}: not a device; use {DEVICE_CHOICES}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{opt('device', text)}: CUDA is not available on this machine (torch {torch.__version__}); "
                              f"use {opt('device', 'cpu')} or {opt('device', 'auto')}")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            names = ", ".join(f"cuda:{i}" for i in range(n))
            raise ConfigError(f"{opt('device', text)}: this machine has {n} CUDA device(s) ({names}); use one of those")
        return dev
    if dev.type == "mps" and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return dev
    raise ConfigError(f"{opt('device', text)}: device type {dev.type!r} is not available here; use {DEVICE_CHOICES}")


def apply_threads(threads: Optional[int]) -> int:
    """Set torch's intra-op CPU threads; ``None`` keeps torch's own choice. Returns the count.

    torch's own choice is what the machine offers (its physical cores, or ``$OMP_NUM_THREADS``
    when set). On a machine shared with other jobs, fewer threads than cores avoid
    oversubscription (a run was measured 20x slower under CPU contention).
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def threads_notice(n: int, asked: Optional[int]) -> str:
    """The one line a run prints about its CPU threads."""
    how = "as asked" if asked is not None else "what the machine offers"
    return f"CPU threads: {n} ({how}; on a shared machine set {opt('threads', 'N')})"
