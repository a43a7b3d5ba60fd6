"""Shared pytest fixtures."""
from __future__ import annotations

import os
from pathlib import Path

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
