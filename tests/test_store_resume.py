"""The append-only store and resuming: a run killed with SIGKILL and restarted loses no image and
computes none twice.

This module doubles as the plugin the killed subprocess loads (``$GANI_BENCH_PLUGINS``): it
registers ``fake_slow``, a test double that sleeps per image so the kill lands mid-run.
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from gani_bench.errors import ConfigError
from gani_bench.harness.store import ResultRow, ResultStore, finished_images, read_results, store_parts
from gani_bench.methods.base import METHODS, InversionMethod, StageTimer
from helpers import mean_w_result

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent


@dataclass
class SlowConfig:
    steps: int = 4
    sleep: float = 0.25


class FakeSlow(InversionMethod):
    """Test double: 'reconstructs' by shrinking the target toward grey; sleeps to be killable."""

    name = "fake_slow"
    Config = SlowConfig
    presets = {"paper": {}, "fast": {"steps": 2}}

    def invert(self, generator, targets, *, seed=0):
        timer = StageTimer(targets.device)
        with timer.stage("fit"):
            time.sleep(self.config.sleep * targets.shape[0])
            recon = targets * (1.0 - 1.0 / (self.config.steps + 1))
        return mean_w_result(generator, recon, stage_seconds=timer.per_image(targets.shape[0]),
                             steps={"fit": self.config.steps})


METHODS.add("fake_slow", FakeSlow, replace=True)


def _folder(path: Path, n: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (32, 32), (20 * i % 255, 100, 200 - 10 * i)).save(path / f"img{i:02d}.png")
    return path


def test_rows_round_trip_with_nan_as_missing(tmp_path):
    with ResultStore(tmp_path, rank=0) as store:
        store.append(ResultRow("m", "a", metrics={"mse": 0.5, "id": float("nan")}, stage_seconds={"pivot": 1.0, "tune": 2.0},
                               steps={"pivot": 3}, seed=7))
        store.append(ResultRow("m", "b", status="failed", error="boom"))
        store.append(ResultRow("m", "a", metrics={"mse": 0.25}, stage_seconds={"pivot": 1.0}))  # a retry
    everything = read_results(tmp_path, latest_only=False)
    assert len(everything) == 3
    assert math.isnan(everything.iloc[0]["metric:id"]) and everything.iloc[0]["total_seconds"] == 3.0
    assert everything.iloc[0]["steps"] == {"pivot": 3} and everything.iloc[0]["seed"] == 7
    latest = read_results(tmp_path).set_index("image_id")
    assert latest.loc["a", "metric:mse"] == 0.25 and latest.loc["b", "status"] == "failed"
    assert finished_images(tmp_path, "m") == {"a", "b"}
    assert finished_images(tmp_path, "m", retry_failed=True) == {"a"}


def test_finished_set_is_the_union_of_all_rank_parts(tmp_path):
    for rank, ids in ((0, ["a", "c"]), (1, ["b"])):
        with ResultStore(tmp_path, rank=rank) as store:
            for i in ids:
                store.append(ResultRow("m", i))
    assert [p.name for p in store_parts(tmp_path)] == ["results.rank0.sqlite", "results.rank1.sqlite"]
    assert finished_images(tmp_path, "m") == {"a", "b", "c"}
    assert finished_images(tmp_path, "other") == set()


def _cli(args, env):
    return subprocess.Popen([sys.executable, "-m", "gani_bench.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _count_rows(run_dir: Path) -> int:
    return len(read_results(run_dir, latest_only=False)) if store_parts(run_dir) else 0


def test_sigkill_then_restart_finishes_every_image_exactly_once(tmp_path):
    images = _folder(tmp_path / "imgs", 8)
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
               GANI_BENCH_PLUGINS="test_store_resume", OMP_NUM_THREADS="1")
    args = ["run", "--method", "fake_slow", "--dataset", str(images), "--out", str(run_dir), "--metrics", "mse",
            "--edits", "none", "--no-progress"]
    proc = _cli(args, env)
    deadline = time.monotonic() + 90
    while _count_rows(run_dir) < 3:
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read()
            proc.kill()
            pytest.fail(f"run ended or stalled before 3 rows: {out[-2000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    before = read_results(run_dir, latest_only=False)
    assert 3 <= len(before) < 8, "the kill must land mid-run"
    done_before = set(before["image_id"])

    proc = _cli(args, env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-2000:]
    assert "already in" in out  # the resume was announced
    rows = read_results(run_dir, latest_only=False)
    assert sorted(rows["image_id"]) == [f"img{i:02d}" for i in range(8)]  # each exactly once
    assert (rows["status"] == "ok").all()
    # rows written before the kill are untouched (same timestamps), new rows came after them
    assert set(rows[rows["timestamp"] <= before["timestamp"].max()]["image_id"]) == done_before
    for i in range(8):
        assert (run_dir / "images" / "fake_slow" / f"img{i:02d}.png").is_file()
    assert (run_dir / "report" / "report.html").is_file()


def test_config_mismatch_is_refused_unless_forced(tmp_path):
    from gani_bench import api

    images = _folder(tmp_path / "imgs", 2)
    common = dict(methods="fake_slow", dataset=str(images), out=tmp_path / "run", metrics=["mse"], edits="none",
                  report=False, device="cpu")
    api.run(overrides={"sleep": 0, "steps": 2}, **common)
    api.run(overrides={"sleep": 0, "steps": 2}, **common)  # same config: resumes, nothing new
    assert len(read_results(tmp_path / "run", latest_only=False)) == 2
    with pytest.raises(ConfigError) as exc:
        api.run(overrides={"sleep": 0, "steps": 3}, **common)
    msg = str(exc.value)
    assert "fake_slow.steps: 2 -> 3" in msg and "use another out=, or force=True" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="seed: 0 -> 1"):
        api.run(overrides={"sleep": 0, "steps": 2}, seed=1, **common)
    api.run(overrides={"sleep": 0, "steps": 3}, force=True, **common)
    rows = read_results(tmp_path / "run", latest_only=False)
    assert len(rows) == 2 and set(rows["config_json"].map(lambda s: '"steps": 3' in s)) == {True}


def test_raising_the_limit_resumes_instead_of_refusing(tmp_path):
    from gani_bench import api

    images = _folder(tmp_path / "imgs", 3)
    common = dict(methods="fake_slow", dataset=str(images), out=tmp_path / "run", metrics=["mse"], edits="none",
                  report=False, overrides={"sleep": 0})
    api.run(limit=1, **common)
    res = api.run(limit=3, **common)
    assert res.counts["fake_slow"] == {"ok": 2, "failed": 0, "skipped": 0, "resumed": 1}
    assert len(read_results(tmp_path / "run", latest_only=False)) == 3
