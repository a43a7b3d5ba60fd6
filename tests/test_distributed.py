"""Sharding under ``torchrun``: 2 CPU processes (gloo) split the images r::2, each writes its own
store part, rank 0 writes the report; a crashed rank loses only its unfinished image.

This module is also the plugin the torchrun workers load (``$GANI_BENCH_PLUGINS``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from gani_bench.harness.distributed import DistInfo, shard
from gani_bench.harness.store import read_results, store_parts
from gani_bench.methods.base import METHODS, InversionMethod
from helpers import mean_w_result

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
CRASH_ENV = "GANI_TEST_CRASH_RANK1_AT"


@dataclass
class ShardConfig:
    steps: int = 1


class ShardProbe(InversionMethod):
    """Test double; with $GANI_TEST_CRASH_RANK1_AT=k, rank 1 dies (os._exit) on its k-th image."""

    name = "t_shard"
    Config = ShardConfig
    presets = {"paper": {}, "fast": {}}
    calls = 0

    def invert(self, generator, targets, *, seed=0):
        type(self).calls += 1
        crash_at = os.environ.get(CRASH_ENV)
        if crash_at and os.environ.get("RANK") == "1" and type(self).calls == int(crash_at):
            os._exit(3)  # a hard crash: no cleanup, no exception handling
        return mean_w_result(generator, targets * 0.5, stage_seconds={"fit": 0.0}, steps={"fit": 1})


METHODS.add("t_shard", ShardProbe, replace=True)


def test_shard_is_round_robin_and_covers_everything():
    items = list(range(7))
    parts = [shard(items, DistInfo(rank=r, world_size=3)) for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert shard(items, DistInfo()) == items


def _torchrun(args, extra_env=None):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
               GANI_BENCH_PLUGINS="test_distributed", OMP_NUM_THREADS="1", **(extra_env or {}))
    cmd = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "gani_bench.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_two_ranks_split_images_and_a_crashed_rank_resumes(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(6):
        Image.new("RGB", (32, 32), (30 * i, 60, 90)).save(images / f"i{i}.png")
    run_dir = tmp_path / "run"
    args = ["run", "--method", "t_shard", "--dataset", str(images), "--out", str(run_dir), "--metrics", "mse",
            "--edits", "none", "--no-progress", "--device", "cpu"]

    crashed = _torchrun(args, {CRASH_ENV: "2"})  # rank 1 dies on its 2nd image (i3)
    assert crashed.returncode != 0
    partial = read_results(run_dir, latest_only=False)
    from_rank1 = set(partial[partial["rank"] == 1]["image_id"])
    assert from_rank1 == {"i1"}  # its finished image survived; i3 (in flight) and i5 were lost
    assert set(partial[partial["rank"] == 0]["image_id"]) <= {"i0", "i2", "i4"}

    done = _torchrun(args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = read_results(run_dir, latest_only=False)
    assert sorted(rows["image_id"]) == [f"i{i}" for i in range(6)]  # every image exactly once
    assert (rows["status"] == "ok").all()
    assert [p.name for p in store_parts(run_dir)] == ["results.rank0.sqlite", "results.rank1.sqlite"]
    assert (run_dir / "report" / "report.html").is_file()
    counts = (run_dir / "report" / "counts.csv").read_text().splitlines()
    assert counts[1] == "t_shard,6,0,0"  # the report merged both parts
