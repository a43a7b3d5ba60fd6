"""``gani-bench check``: comparison, pinned threads, worse configs failing, --init/--reference/--junit-xml,
exit codes, and the committed reference."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch

from gani_bench.cli import main
from gani_bench.harness.check import REFERENCE_DIR, compare, pinned_threads, run_check
from gani_bench.harness.check_reference import FLOOR, SAFETY, derive_tolerances
from gani_bench.methods.base import METHODS, InversionMethod
from gani_bench.metrics.base import METRICS
from gani_bench.plugins import load_plugins
from helpers import mean_w_result


@dataclass
class DescentConfig:
    steps: int = 5
    lr: float = 0.2
    loss_weight: float = 1.0


class DescentMethod(InversionMethod):
    """Test double that optimises like a method: gradient descent on ``loss_weight * |x - target|^2``
    from a grey image, so fewer steps, a wrong learning rate or a broken loss weight all make it worse."""

    name = "t_descent"
    Config = DescentConfig
    presets = {"paper": {}, "fast": {}}
    threads_seen: list = []

    def invert(self, generator, targets, *, seed=0):
        DescentMethod.threads_seen.append(torch.get_num_threads())
        x = torch.zeros_like(targets)
        for _ in range(self.config.steps):
            x = x - self.config.lr * self.config.loss_weight * 2 * (x - targets)
        return mean_w_result(generator, x.clamp(-1, 1), stage_seconds={"fit": 0.0}, steps={"fit": self.config.steps})


METHODS.add("t_descent", DescentMethod, replace=True)


def _reference(tmp_path: Path) -> Path:
    ref = tmp_path / "reference"
    ref.mkdir()
    (ref / "config.json").write_text(json.dumps({
        "dataset": "demo", "preset": "fast", "seed": 0, "device": "cpu", "methods": ["t_descent"], "limit": 2,
        "overrides": [], "metrics": ["mse", "psnr"], "edits": "none", "threads": 1}))
    (ref / "tolerances.json").write_text(json.dumps({"metrics": {"mse": {"abs": 1e-4}, "psnr": {"abs": 0.05}}}))
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


def test_pinned_threads_sets_and_restores():
    before = torch.get_num_threads()
    with pinned_threads(1):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == before and not torch.are_deterministic_algorithms_enabled()


@pytest.fixture(scope="module")
def descent_reference(tmp_path_factory):
    """A reference folder for the test double, its table written by ``--update`` (one run)."""
    tmp = tmp_path_factory.mktemp("descent")
    ref = _reference(tmp)
    first = run_check(update=True, reference_dir=ref, out=tmp / "run")
    assert first.updated
    return ref


def test_update_writes_the_table_and_an_unchanged_config_passes_at_another_thread_count(descent_reference, tmp_path):
    table = pd.read_csv(descent_reference / "reference.csv")
    assert sorted(table["metric"]) == ["mse", "psnr"] and (table["n"] == 2).all()
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the machine's setting must not reach the check's run
    try:
        DescentMethod.threads_seen.clear()
        same = run_check(reference_dir=descent_reference, out=tmp_path / "run")
    finally:
        torch.set_num_threads(before)
    assert same.passed and set(same.rows["status"]) == {"ok"} and set(DescentMethod.threads_seen) == {1}


@pytest.mark.parametrize("worse", ["steps=1", "lr=0.001", "loss_weight=0"])
def test_each_kind_of_worse_config_fails(descent_reference, tmp_path, worse):
    bad = run_check(reference_dir=descent_reference, out=tmp_path / "run", overrides=[worse])
    assert not bad.passed and bad.exit_code == 1
    assert set(bad.regressions["metric"]) == {"mse", "psnr"}


def test_better_config_is_reported_and_passes(descent_reference, tmp_path):
    better = run_check(reference_dir=descent_reference, out=tmp_path / "run", overrides=["steps=8"])
    assert better.passed and set(better.rows["status"]) == {"IMPROVED"}
    assert any("--update" in m for m in better.messages)


def _cli(args, capsys):
    """Run ``gani-bench ARGS`` in-process; (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_init_reference_junit_and_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(["run", "-m", "t_descent", "--limit", "2", "--edits", "none", "--metrics", "mse,psnr",
                         "--device", "cpu", "--out", "myrun", "--no-report", "--no-progress"], capsys)
    assert code == 0, err
    code, out, err = _cli(["check", "--init", "myref", "--from", "myrun"], capsys)
    assert code == 0, err
    assert "reference written: myref" in out
    tol = json.loads((tmp_path / "myref" / "tolerances.json").read_text())
    assert tol["metrics"]["mse"]["spread"]["threads"] == [1, 2, 4]
    assert tol["metrics"]["mse"]["abs"] == FLOOR["mse"]  # the double is exact across threads: floor
    config = json.loads((tmp_path / "myref" / "config.json").read_text())
    assert config["methods"] == ["t_descent"] and config["limit"] == 2 and config["threads"] == 1

    code, out, err = _cli(["check", "--reference", "myref", "--junit-xml", "ok.xml", "--out", "c"], capsys)
    assert code == 0, out + err
    suite = ET.parse(tmp_path / "ok.xml").getroot().find("testsuite")
    cases = {(c.get("classname"), c.get("name")) for c in suite.iter("testcase")}
    assert cases == {("gani_bench.check.t_descent", "mse"), ("gani_bench.check.t_descent", "psnr")}
    assert suite.get("failures") == "0"

    code, out, err = _cli(["check", "--reference", "myref", "--junit-xml", "bad.xml", "--out", "c", "--set", "lr=0.001"], capsys)
    assert code == 1 and "REGRESSION" in out and "check FAILED: 2 regression(s)" in err
    failed = [c.get("name") for c in ET.parse(tmp_path / "bad.xml").getroot().iter("testcase") if c.find("failure") is not None]
    assert sorted(failed) == ["mse", "psnr"]

    # usage and setup errors: one line, exit 2
    for args, expected in [
        (["check", "--init", "other"], "error: --init DIR and --from RUN_DIR go together: `gani-bench check --init DIR --from RUN_DIR`"),
        (["check", "--init", "myref", "--from", "myrun"], "error: --init myref: a reference is already there; pick a new folder or delete it first"),
        (["check", "--reference", "nowhere"], "error: reference folder nowhere has no config.json; create one with `gani-bench check --init nowhere --from RUN_DIR`"),
        (["check", "--init", "x", "--from", "nowhere"], "error: --from nowhere: no run.json there; pass the folder a finished `gani-bench run --out` wrote"),
    ]:
        code, out, err = _cli(args, capsys)
        assert code == 2 and err.strip() == expected, (args, err)
    code, _, err = _cli(["check", "--junit-xml"], capsys)
    assert code == 2 and "requires an argument" in err


def test_derive_tolerances_scales_the_spread_and_flags_chaos():
    runs = pd.DataFrame({"method": ["a", "a", "b", "b"], "metric": ["mse"] * 4, "mean": [0.040, 0.041, 0.030, 0.0300001],
                         "threads": [1, 2, 1, 2]})
    tol = derive_tolerances(runs)["metrics"]["mse"]
    assert tol["spread"]["max_minus_min"] == pytest.approx(0.001)
    assert tol["abs"] == pytest.approx(SAFETY * 0.001) and tol["chaotic"]  # 0.001 of 0.041 is > 2 %


def test_committed_reference_is_consistent_and_its_margins_hold():
    """The shipped reference names registered methods/metrics; each tolerance sits well above the
    spread measured across thread counts and well below the effect of each recorded regression."""
    load_plugins()
    config = json.loads((REFERENCE_DIR / "config.json").read_text())
    table = pd.read_csv(REFERENCE_DIR / "reference.csv")
    assert set(table["method"]) == set(config["methods"]) and set(table["metric"]) == set(config["metrics"])
    assert all(m in METHODS for m in config["methods"]) and all(n in METRICS for n in config["metrics"])
    tolerances = json.loads((REFERENCE_DIR / "tolerances.json").read_text())
    assert config["threads"] == 1
    for metric in config["metrics"]:
        spec = tolerances["metrics"][metric]
        assert spec["abs"] >= 5 * spec["spread"]["max_minus_min"] and not spec["chaotic"]
    for kind, effects in tolerances["measured_regressions"]["effects"].items():
        # each deliberately worse configuration moves some metric by > 3x its tolerance for every method
        for method in config["methods"]:
            assert max(abs(effects[method][m]) / tolerances["metrics"][m]["abs"] for m in config["metrics"]) > 3, (kind, method)


@pytest.mark.slow
def test_shipped_reference_passes_at_two_threads_and_fails_with_a_recorded_worse_config(tmp_path):
    """The real thing, as CI runs it: the shipped reference passes whatever the machine's thread count,
    and one of the recorded worse configurations (the wrong learning rate) fails it."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        same = run_check(out=tmp_path / "run")
    finally:
        torch.set_num_threads(before)
    assert same.passed, same.rows.to_string()
    overrides = json.loads((REFERENCE_DIR / "tolerances.json").read_text())["measured_regressions"]["overrides"]["wrong_lr"]
    worse = run_check(out=tmp_path / "run", overrides=overrides)
    assert not worse.passed and not worse.regressions.empty
