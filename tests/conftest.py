"""Shared pytest fixtures."""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any, Dict

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
#: real reference files (edit directions, face photos) kept beside the checkout, never committed
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout, or a clean skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent (it ships beside the dev checkout only)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_data() -> Path:
    return TEST_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests from writing into the user's cache unless they opt in.

    ``GANI_BENCH_HOME`` is honoured if the caller set it (CI points it at a persistent cache so
    the real LPIPS weights are fetched once); otherwise a per-session temporary folder is used.
    """
    if "GANI_BENCH_HOME" not in os.environ:
        monkeypatch.setenv("GANI_BENCH_HOME", str(tmp_path_factory.getbasetemp() / "gani_bench_home"))


@pytest.fixture(autouse=True)
def _single_thread_determinism() -> None:
    torch.manual_seed(0)


@pytest.fixture()
def tf_modules(monkeypatch: pytest.MonkeyPatch) -> type:
    """A fake ``dnnlib.tflib.network.Network`` that pickles its state the way NVIDIA's does.

    Put into ``sys.modules`` for the test only, so ``pickle`` writes NVIDIA's TF class name;
    used to make TF pickles in ``test_tf_pickle`` and ``test_checkpoints``.
    """

    class Network:
        def __init__(self, state: Dict[str, Any]) -> None:
            self._state = state

        def __getstate__(self) -> Dict[str, Any]:  # NVIDIA's class defines only get/setstate
            return self._state

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    network = types.ModuleType("dnnlib.tflib.network")
    network.Network = Network
    for name, mod in {"dnnlib": types.ModuleType("dnnlib"), "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
                      "dnnlib.tflib.network": network}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return Network
