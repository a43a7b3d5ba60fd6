"""Metrics never silently missing: scored as saved (run == recomputed from the PNGs), weights decided
before the run (one summary line), resume fills missing columns without re-running the method, and
the report's "not computed" list is true - also after SIGKILLs at random points.

This module doubles as the plugin the killed subprocess loads (``$GANI_BENCH_PLUGINS``).
"""
from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gani_bench import api
from gani_bench.cli import main
from gani_bench.harness.images import load_png
from gani_bench.harness.metric_fill import incomplete_rows
from gani_bench.harness.metric_set import MetricSet
from gani_bench.harness.store import read_results, store_parts
from gani_bench.methods.base import METHODS, InversionMethod
from gani_bench.report.tables import unavailable_metrics
from helpers import mean_w_result

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
REAL_CACHE = Path.home() / ".cache" / "gani_bench"


@dataclass
class BlurConfig:
    sleep: float = 0.0


class Blur(InversionMethod):
    """Test double: a blurred, slightly brightened target (non-trivial for every image metric); counts calls."""

    name = "t_blur"
    Config = BlurConfig
    presets = {"paper": {}, "fast": {}}
    calls = 0

    def invert(self, generator, targets, *, seed=0):
        Blur.calls += 1
        time.sleep(self.config.sleep * targets.shape[0])
        recon = torch.nn.functional.avg_pool2d(targets, 3, stride=1, padding=1) * 0.9 + 0.05
        return mean_w_result(generator, recon, stage_seconds={"fit": 0.0}, steps={"fit": 1})


METHODS.add("t_blur", Blur, replace=True)


def _folder(path: Path, n: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((64, 64), Image.BICUBIC).save(path / f"img{i:02d}.png")
    return path


def _lpips_home(tmp_path: Path) -> Path:
    """A cache holding the real LPIPS-alex weights (copied from ~/.cache/gani_bench), or a skip."""
    src = REAL_CACHE / "lpips-alexnet"
    if not src.is_dir() or not any(src.glob("*.ckpt")) and not any(src.glob("*.pth")):
        pytest.skip(f"no LPIPS-alex weights in {src}; run `gani-bench weights download lpips-alexnet` once")
    home = tmp_path / "home"
    shutil.copytree(src, home / "lpips-alexnet", ignore=shutil.ignore_patterns(".lock"))
    return home


def test_run_scores_images_as_saved_and_recomputing_from_png_is_identical(tmp_path, monkeypatch):
    names = ["mse", "psnr", "ms_ssim"]
    if (REAL_CACHE / "lpips-alexnet").is_dir():
        monkeypatch.setenv("GANI_BENCH_HOME", str(_lpips_home(tmp_path)))
        names.append("lpips")
    images = _folder(tmp_path / "imgs", 3)
    api.run(methods="t_blur", dataset=str(images), out=tmp_path / "run", metrics=names, edits="none", device="cpu",
            report=False, batch_size=2)  # a batch of 2 and one of 1: batch composition must not matter
    rows = read_results(tmp_path / "run").set_index("image_id")
    metrics = MetricSet(names, torch.device("cpu"))
    assert not metrics.unavailable
    for image_id, row in rows.iterrows():
        pred = load_png(tmp_path / "run" / row["image_path"])[None]
        target = load_png(tmp_path / "run" / "images" / "_target" / f"{image_id}.png")[None]
        again = metrics.compute_image(pred, target)[0]
        assert set(again) == set(names)
        for name in names:
            assert row[f"metric:{name}"] == again[name], (image_id, name)  # bit-identical, not approx
    assert rows["metric:mse"].min() > 1e-4  # the double is not a trivial identity


def test_resume_fills_a_metric_added_with_metrics_without_rerunning_the_method(tmp_path):
    images = _folder(tmp_path / "imgs", 3)
    common = dict(methods="t_blur", dataset=str(images), out=tmp_path / "run", edits="none", device="cpu", report=False)
    api.run(metrics=["mse"], **common)
    calls = Blur.calls
    assert "metric:psnr" not in read_results(tmp_path / "run").columns
    res = api.run(metrics=["mse", "psnr"], **common)
    assert Blur.calls == calls and res.counts["t_blur"]["resumed"] == 3  # no method re-run
    rows = read_results(tmp_path / "run")
    assert len(rows) == 3 and rows["metric:psnr"].notna().all()
    expected = 10 * np.log10(4.0 / rows["metric:mse"])  # PSNR of images in [-1, 1] from the same MSE
    np.testing.assert_allclose(rows["metric:psnr"], expected, rtol=1e-5)
    assert incomplete_rows(tmp_path / "run", ["mse", "psnr"]).empty


TINY_GENERATOR = TESTS_DIR / "data" / "ckpt" / "rosinality_tiny.pt"
EDIT_METRICS = ["edit_consistency_mse"]


def _pti_run(images: Path, out: Path, metrics, save_deltas: bool):
    """Real PTI (it tunes the generator, so its edits need its deltas), two steps per stage."""
    return api.run(methods="pti", dataset=str(images), generator=str(TINY_GENERATOR), out=out, preset="fast_mse",
                   overrides={"pivot_steps": 2, "tune_steps": 2, "pivot_w_avg_samples": 50}, metrics=metrics,
                   device="cpu", report=False, save_deltas=save_deltas, threads=1)


def _edit_columns(run_dir: Path):
    rows = read_results(run_dir).set_index("image_id").sort_index()
    return rows[[c for c in rows.columns if c.startswith("metric:edit_consistency_mse/")]]


def test_resume_fills_an_edit_metric_from_saved_latents_and_deltas(tmp_path, caplog):
    """Edit metrics added on resume come from ``--save-deltas`` files, equal to computing them in
    the run (edit metrics see targets as saved), and PTI is not run again."""
    images = _folder(tmp_path / "imgs", 2)
    _pti_run(images, tmp_path / "run", ["mse"], save_deltas=True)
    assert _edit_columns(tmp_path / "run").empty
    with caplog.at_level(logging.INFO, logger="gani_bench.run"):
        res = _pti_run(images, tmp_path / "run", ["mse", *EDIT_METRICS], save_deltas=True)
    assert res.counts["pti"]["resumed"] == 2 and res.counts["pti"]["ok"] == 0
    assert any("filled edit_consistency_mse for 2 finished image(s) from their saved PNGs and latents" in r.message
               for r in caplog.records)
    filled = _edit_columns(tmp_path / "run")
    assert filled.shape[1] >= 2 and filled.notna().all().all() and (filled.to_numpy() > 0).all()
    _pti_run(images, tmp_path / "direct", ["mse", *EDIT_METRICS], save_deltas=True)
    direct = _edit_columns(tmp_path / "direct")
    assert list(direct.columns) == list(filled.columns)
    np.testing.assert_allclose(filled.to_numpy(), direct.to_numpy(), rtol=1e-5, atol=1e-7)
    assert incomplete_rows(tmp_path / "run", ["mse", *EDIT_METRICS]).empty


def test_without_saved_deltas_an_edit_metric_stays_missing_with_one_line(tmp_path, caplog):
    images = _folder(tmp_path / "imgs", 2)
    _pti_run(images, tmp_path / "run", ["mse"], save_deltas=False)
    with caplog.at_level(logging.WARNING, logger="gani_bench.run"):
        _pti_run(images, tmp_path / "run", ["mse", *EDIT_METRICS], save_deltas=False)
    assert _edit_columns(tmp_path / "run").empty
    lines = [r.message for r in caplog.records if "miss edit metrics" in r.message]
    assert lines == ["2 finished image(s) miss edit metrics that need their latents and weight deltas, which the run "
                     "did not save; they stay missing (rerun those images with force=True, and save_deltas=True to "
                     "keep them next time)"]
    assert list(incomplete_rows(tmp_path / "run", ["mse", *EDIT_METRICS])["missing"]) == [EDIT_METRICS] * 2


def test_unavailable_metrics_are_summarised_in_one_line_before_the_run(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GANI_BENCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("GANI_BENCH_OFFLINE", "1")
    images = _folder(tmp_path / "imgs", 1)
    with caplog.at_level(logging.INFO, logger="gani_bench"):
        res = api.run(methods="t_blur", dataset=str(images), out=tmp_path / "run", edits="none", device="cpu",
                      metrics=["mse", "lpips", "lpips_vgg"], report=False)
    assert set(res.unavailable_metrics) == {"lpips", "lpips_vgg"}
    lines = [r.getMessage() for r in caplog.records if "not computed" in r.getMessage()]
    assert lines == ["2 metric(s) not computed in this run: lpips, lpips_vgg (weights missing; run: "
                     "gani-bench weights download lpips-alexnet lpips-vgg16)"]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1  # no per-metric warnings besides


def _cli(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_run_without_lpips_then_weights_arrive_and_resume_fills_the_column(tmp_path, monkeypatch, capsys):
    home = _lpips_home(tmp_path)  # skips when the real weights are not on this machine
    empty = tmp_path / "empty_home"
    monkeypatch.setenv("GANI_BENCH_HOME", str(empty))
    monkeypatch.setenv("GANI_BENCH_OFFLINE", "1")
    images = _folder(tmp_path / "imgs", 2)
    args = ["run", "-m", "t_blur", "--dataset", str(images), "--out", str(tmp_path / "run"), "--metrics", "mse,lpips",
            "--edits", "none", "--device", "cpu", "--no-progress"]
    code, out = _cli(args, capsys)
    assert code == 0, out
    assert "1 metric(s) not computed in this run: lpips (weights missing; run: gani-bench weights download lpips-alexnet)" in out
    assert "lpips" in unavailable_metrics([tmp_path / "run"])
    assert "Metrics not computed" in (tmp_path / "run" / "report" / "report.html").read_text()
    calls = Blur.calls

    shutil.copytree(home / "lpips-alexnet", empty / "lpips-alexnet")  # what `weights download` leaves
    code, out = _cli(args, capsys)
    assert code == 0, out
    assert "not computed" not in out and Blur.calls == calls
    rows = read_results(tmp_path / "run")
    assert rows["metric:lpips"].notna().all() and (rows["metric:lpips"] > 0).all()
    assert unavailable_metrics([tmp_path / "run"]) == {}
    assert "Metrics not computed" not in (tmp_path / "run" / "report" / "report.html").read_text()
    assert "lpips" in (tmp_path / "run" / "report" / "table1.md").read_text().lower()


def _count_rows(run_dir: Path) -> int:
    return len(read_results(run_dir, latest_only=False)) if store_parts(run_dir) else 0


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_only_complete_or_listed_rows(tmp_path):
    """Kill a resuming run (which fills a new metric and inverts the rest) at random row counts, three
    seeds in a row; after each kill every finished row has all asked-for columns or is listed by
    ``incomplete_rows``; the final run completes everything."""
    n = 8
    images = _folder(tmp_path / "imgs", n)
    run_dir = tmp_path / "run"
    api.run(methods="t_blur", dataset=str(images), out=run_dir, metrics=["mse"], edits="none", device="cpu",
            report=False, limit=4, overrides={"sleep": 0.3})  # four images finished with one metric only
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
               GANI_BENCH_PLUGINS="test_metric_fill", OMP_NUM_THREADS="1")
    args = [sys.executable, "-m", "gani_bench.cli", "run", "-m", "t_blur", "--dataset", str(images), "--out", str(run_dir),
            "--metrics", "mse,psnr", "--edits", "none", "--device", "cpu", "--no-progress", "--no-report",
            "--set", "sleep=0.3"]
    wanted = ["mse", "psnr"]
    killed_mid_run = 0
    for seed in range(3):
        target = _count_rows(run_dir) + random.Random(seed).randint(1, 3)
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while _count_rows(run_dir) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        killed_mid_run += proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        out = proc.stdout.read()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, out[-2000:]  # it was running, not refused or finished
        latest = read_results(run_dir)
        listed = set(zip(*[incomplete_rows(run_dir, wanted)[c] for c in ("method", "image_id")])) \
            if not incomplete_rows(run_dir, wanted).empty else set()
        for r in latest.itertuples():
            assert "mse" in r.metrics  # nothing ever loses a column
            assert set(wanted) <= set(r.metrics) or (r.method, r.image_id) in listed
    assert killed_mid_run == 3
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    latest = read_results(run_dir)
    assert sorted(latest["image_id"]) == [f"img{i:02d}" for i in range(n)]
    assert incomplete_rows(run_dir, wanted).empty and latest["metric:psnr"].notna().all()
