"""Harness overhead per image as a fraction of the method's time.

Run: ``pytest tests/benchmarks/test_bench_harness.py --benchmark-only -s``. A test-double method
sleeps a fixed time per image (``METHOD_SECONDS``, shorter than any real method's time on a
CPU, so the fraction is an upper bound), and the run computes only MSE. Overhead = wall time
of the whole run (dataset loading and rendering, edited-image rendering for the grid, PNG and
store writes, progress bookkeeping; plugin import and generator load amortised over the images)
minus method and metric time, per image. The report at the end is excluded (it runs once).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from gani_bench import api
from gani_bench.harness.store import read_results
from gani_bench.methods.base import METHODS, InversionMethod, StageTimer
from helpers import mean_w_result

METHOD_SECONDS = 0.2


@dataclass
class SleepConfig:
    seconds: float = METHOD_SECONDS


class Sleeper(InversionMethod):
    name = "bench_sleep"
    Config = SleepConfig
    presets = {"paper": {}, "fast": {}}

    def invert(self, generator, targets, *, seed=0):
        timer = StageTimer(targets.device)
        with timer.stage("fit"):
            time.sleep(self.config.seconds * targets.shape[0])
        return mean_w_result(generator, targets.clone(), stage_seconds=timer.per_image(targets.shape[0]),
                             steps={"fit": 1})


METHODS.add("bench_sleep", Sleeper, replace=True)


@pytest.mark.benchmark(group="harness")
@pytest.mark.parametrize("edits", ["none", "default"])
def test_harness_overhead_per_image(benchmark, tmp_path, edits):
    api.run(methods="bench_sleep", out=tmp_path / "warm", limit=1, metrics=["mse"], edits="none", report=False,
            device="cpu")  # warm-up: plugin import, generator build
    rounds = iter(range(100))

    def one_run():
        out = tmp_path / f"run{next(rounds)}"
        t0 = time.perf_counter()
        api.run(methods="bench_sleep", out=out, metrics=["mse"], edits=edits, report=False, device="cpu")
        return out, time.perf_counter() - t0

    out, wall = benchmark.pedantic(one_run, rounds=1, iterations=1)
    rows = read_results(out)
    n = len(rows)
    method = rows["total_seconds"].sum()
    metrics = rows["metric_seconds"].sum()
    overhead = (wall - method - metrics) / n
    fraction = overhead / (method / n)
    benchmark.extra_info.update({"images": n, "method_s_per_image": method / n, "metric_s_per_image": metrics / n,
                                 "harness_s_per_image": overhead, "harness_fraction_of_method": fraction,
                                 "harness_s_per_image_in_store": float(rows["harness_seconds"].mean())})
    print(f"\nedits={edits}: {n} images, method {method / n:.3f} s, metrics {metrics / n:.3f} s, "
          f"harness {overhead:.3f} s/image = {fraction:.1%} of the method's time")
    assert n == 8 and (rows["status"] == "ok").all()
