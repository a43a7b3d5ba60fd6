"""`gani-bench --help` and `methods list` answer without importing torch.

Measured in fresh subprocesses (import caches cold for our modules, warm for the OS), against
generous bounds so a loaded CI machine does not flake; the figures are in docs/measurements.md.
"""
from __future__ import annotations

import subprocess
import sys
import time


def _seconds(code: str, tries: int = 2) -> float:
    best = float("inf")
    for _ in range(tries):  # best of two: the first may pay for a cold disk cache
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        best = min(best, time.perf_counter() - t0)
        assert done.returncode == 0, done.stderr[-500:]
    return best


HELP = ("import sys\nfrom gani_bench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'gani-bench --help imported torch'")


def test_help_is_fast_and_does_not_import_torch():
    assert _seconds(HELP) < 2.0


LIST = ("import sys\nfrom gani_bench.cli import main\ntry:\n    main(['methods', 'list'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'methods list imported torch'")


def test_methods_list_is_fast_and_does_not_import_torch():
    """Read from the torch-free method catalogue (``methods/catalog.py``; tests/test_method_catalog.py)."""
    assert _seconds(LIST) < 2.0
