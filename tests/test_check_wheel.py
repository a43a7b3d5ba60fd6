"""``gani-bench check`` from an installed wheel (no checkout): the shipped reference is found, and
``--init`` / ``--reference`` / ``--junit-xml`` and the exit codes work through the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS_DIR = REPO / "tests"


@pytest.mark.slow
def test_check_init_reference_junit_from_an_installed_wheel(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"could not build a wheel here (no build backend reachable): {built.stderr.strip()[-200:]}")
    (wheel,) = tmp_path.glob("gani_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"gani_bench/reference/config.json", "gani_bench/reference/reference.csv",
            "gani_bench/reference/tolerances.json"} <= names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # the installed layout: site-packages/gani_bench/...
    work = tmp_path / "work"
    work.mkdir()
    # the wheel's package first; tests/ only for the plugin holding the test-double method
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(TESTS_DIR)]), GANI_BENCH_PLUGINS="test_check",
               OMP_NUM_THREADS="1")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gani_bench.cli", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)

    probe = subprocess.run([sys.executable, "-c", "import gani_bench.harness.check as c; print(c.__file__); print(c.REFERENCE_DIR)"],
                           cwd=work, env=env, capture_output=True, text=True)
    module_file, ref_dir = probe.stdout.split()
    assert Path(module_file).is_relative_to(site) and Path(ref_dir) == site / "gani_bench" / "reference"

    res = cli("run", "-m", "t_descent", "--limit", "2", "--edits", "none", "--metrics", "mse,psnr", "--device", "cpu",
              "--out", "myrun", "--no-report", "--no-progress")
    assert res.returncode == 0, res.stderr[-2000:]
    res = cli("check", "--init", "myref", "--from", "myrun")
    assert res.returncode == 0 and "reference written: myref" in res.stdout, res.stderr[-2000:]
    res = cli("check", "--reference", "myref", "--junit-xml", "ok.xml")
    assert res.returncode == 0 and "check passed" in res.stdout, res.stdout + res.stderr[-2000:]
    assert len(list(ET.parse(work / "ok.xml").getroot().iter("testcase"))) == 2
    res = cli("check", "--reference", "myref", "--junit-xml", "bad.xml", "--set", "steps=1")
    assert res.returncode == 1 and "check FAILED" in res.stderr
    failures = [c.get("name") for c in ET.parse(work / "bad.xml").getroot().iter("testcase") if c.find("failure") is not None]
    assert sorted(failures) == ["mse", "psnr"]
    res = cli("check", "--reference", "missing")
    assert res.returncode == 2 and res.stderr.strip().startswith("error: reference folder missing has no config.json")
