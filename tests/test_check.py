"""``gani-bench check``: comparison logic, exit status, --update, and the committed reference."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from gani_bench.harness.check import REFERENCE_DIR, compare, run_check
from gani_bench.methods.base import METHODS, InversionMethod
from gani_bench.metrics.base import METRICS
from gani_bench.plugins import load_plugins
from helpers import mean_w_result


@dataclass
class StepsConfig:
    steps: int = 20


class StepsMethod(InversionMethod):
    """Test double whose error falls with steps: recon = target * (1 - 1/(steps+1))."""

    name = "t_steps"
    Config = StepsConfig
    presets = {"paper": {}, "fast": {"steps": 20}}

    def invert(self, generator, targets, *, seed=0):
        return mean_w_result(generator, targets * (1 - 1 / (self.config.steps + 1)), stage_seconds={"fit": 0.0},
                             steps={"fit": self.config.steps})


METHODS.add("t_steps", StepsMethod, replace=True)


def _reference(tmp_path: Path) -> Path:
    ref = tmp_path / "reference"
    ref.mkdir()
    (ref / "config.json").write_text(json.dumps({
        "dataset": "demo", "preset": "fast", "seed": 0, "device": "cpu", "methods": ["t_steps"], "limit": 2,
        "overrides": [], "metrics": ["mse", "psnr"], "edits": "none"}))
    shutil.copy(REFERENCE_DIR / "tolerances.json", ref / "tolerances.json")
    return ref


def test_compare_is_direction_aware():
    ref = pd.DataFrame({"method": ["m"] * 4, "metric": ["mse", "psnr", "ms_ssim", "lpips"], "mean": [0.01, 20.0, 0.5, 0.2]})
    cur = pd.DataFrame({"method": ["m"] * 4, "metric": ["mse", "psnr", "ms_ssim", "lpips"], "mean": [0.02, 21.0, 0.505, 0.2]})
    tol = {"metrics": {"mse": {"abs": 0.0, "rel": 0.1}, "psnr": {"abs": 0.3}, "ms_ssim": {"abs": 0.02}}}
    rows = compare(ref, cur, tol, {"lpips": "weights missing"}).set_index("metric")
    assert rows.loc["mse", "status"] == "REGRESSION"  # lower is better, it doubled
    assert rows.loc["psnr", "status"] == "IMPROVED"  # higher is better, +1 dB > 0.3
    assert rows.loc["ms_ssim", "status"] == "ok"
    assert rows.loc["lpips", "status"] == "NOT COMPARED"
    assert rows.loc["mse", "tolerance"] == pytest.approx(0.001)


def test_update_then_pass_then_worse_config_fails(tmp_path):
    ref = _reference(tmp_path)
    first = run_check(update=True, reference_dir=ref, out=tmp_path / "run")
    assert first.updated and (ref / "demo_fast.csv").is_file()
    table = pd.read_csv(ref / "demo_fast.csv")
    assert sorted(table["metric"]) == ["mse", "psnr"] and (table["n"] == 2).all()

    same = run_check(reference_dir=ref, out=tmp_path / "run")
    assert same.passed and set(same.rows["status"]) == {"ok"}

    worse = run_check(reference_dir=ref, out=tmp_path / "run", overrides=["steps=1"])
    assert not worse.passed
    assert set(worse.regressions["metric"]) == {"mse", "psnr"}

    better = run_check(reference_dir=ref, out=tmp_path / "run", overrides=["steps=200"])
    assert better.passed and set(better.rows["status"]) == {"IMPROVED"}
    assert any("--update" in m for m in better.messages)


def test_cli_exit_status(tmp_path):
    from gani_bench.cli.harness import check

    ref = _reference(tmp_path)
    runner = CliRunner()
    res = runner.invoke(check, ["--update", "--reference", str(ref), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(check, ["--reference", str(ref), "--out", str(tmp_path / "run"), "--set", "steps=1"])
    assert res.exit_code == 1
    assert "REGRESSION" in res.output and "check FAILED" in res.output


def test_committed_reference_names_registered_methods_and_metrics():
    load_plugins()
    config = json.loads((REFERENCE_DIR / "config.json").read_text())
    table = pd.read_csv(REFERENCE_DIR / "demo_fast.csv")
    assert set(table["method"]) == set(config["methods"])
    assert set(table["metric"]) <= set(config["metrics"])
    for m in config["methods"]:
        assert m in METHODS
    for name in config["metrics"]:
        assert name in METRICS
    tolerances = json.loads((REFERENCE_DIR / "tolerances.json").read_text())
    assert set(config["metrics"]) <= set(tolerances["metrics"])
