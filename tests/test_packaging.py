"""The wheel a user installs holds the package data the code looks for (no editable checkout)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gani_bench.encoders import DEMO_ENCODERS
from gani_bench.harness.datasets import builtin_manifest_dir

REPO = Path(__file__).resolve().parents[1]


def test_checkout_manifest_dir_holds_the_demo() -> None:
    folder = builtin_manifest_dir()
    assert (folder / "demo.json").is_file()
    assert (folder / "demo" / "astronaut.png").is_file()


@pytest.mark.slow
def test_wheel_ships_manifests_baselines_and_cuda_sources(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.skip(f"could not build a wheel here (no build backend reachable): {built.stderr.strip()[-200:]}")
    (wheel,) = tmp_path.glob("gani_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "gani_bench/manifests/demo.json",
        "gani_bench/manifests/celebahq.json",
        "gani_bench/manifests/demo/astronaut.png",
        "gani_bench/baselines/sg2.py",
        "gani_bench/ops/cuda/upfirdn2d.cu",
        "gani_bench/ops/cuda/bias_act.cu",
        "gani_bench/encoders/training/ranger.py",
    } | {f"gani_bench/encoders/demo/{name}.pt" for name in DEMO_ENCODERS.names()}
    assert expected <= names, sorted(expected - names)
    # the design card's top-level folders must not become top-level import names
    assert not any(n.startswith(("baselines/", "datasets/", "tests/")) for n in names)
    # the installed layout resolves the manifests from inside the package
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = subprocess.run(
        [sys.executable, "-c", "from gani_bench.harness.datasets import builtin_manifest_dir as d; print(d())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()) == site / "gani_bench" / "manifests"
