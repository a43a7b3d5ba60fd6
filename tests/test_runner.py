"""The run loop: config overrides, resume-free runs, failures that cost one image, unavailable
metrics, skipped files, saved images, and an end-to-end run of the real methods."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from gani_bench import api
from gani_bench.errors import ConfigError, UnknownNameError
from gani_bench.harness.runner import resolve_methods, split_overrides
from gani_bench.harness.store import read_results
from gani_bench.methods.base import METHODS, InversionMethod
from gani_bench.metrics.base import METRICS, ImageMetric
from gani_bench.plugins import load_plugins
from helpers import mean_w_result


@dataclass
class HalfConfig:
    scale: float = 0.5
    fail_call: int = -1
    steps: int = 3


class Half(InversionMethod):
    """Test double: reconstruction = scale * target; raises on the ``fail_call``-th invert call."""

    name = "t_half"
    Config = HalfConfig
    presets = {"paper": {"scale": 0.9}, "fast": {"scale": 0.5}}
    calls = 0

    def invert(self, generator, targets, *, seed=0):
        type(self).calls += 1
        if type(self).calls == self.config.fail_call:
            raise RuntimeError("synthetic failure\nwith a second line")
        return mean_w_result(generator, targets * self.config.scale, stage_seconds={"only": 0.001},
                             steps={"only": self.config.steps})


@dataclass
class OtherConfig:
    steps: int = 1
    lr: float = 0.1


class Other(InversionMethod):
    name = "t_other"
    Config = OtherConfig
    presets = {"paper": {}, "fast": {}}


class NoWeights(ImageMetric):
    name: ClassVar[str] = "t_noweights"
    weights: ClassVar[Tuple[str, ...]] = ()

    def unavailable_reason(self):
        return "t_noweights weights are not in the cache; run: gani-bench weights download t"


METHODS.add("t_half", Half, replace=True)
METHODS.add("t_other", Other, replace=True)
METRICS.add("t_noweights", NoWeights, replace=True)


def test_resolve_methods_lists_all_and_refuses_unknown():
    load_plugins()
    assert resolve_methods(["t_half,t_other", "t_half"]) == ["t_half", "t_other"]
    assert {"t_half", "t_other"} <= set(resolve_methods("all"))
    with pytest.raises(UnknownNameError, match="valid methods"):
        resolve_methods("nope")


def test_overrides_bare_key_goes_to_every_method_with_the_field():
    per = split_overrides(["steps=5", "t_other.lr=0.5", "scale=0.25"], ["t_half", "t_other"])
    assert per == {"t_half": {"steps": "5", "scale": "0.25"}, "t_other": {"steps": "5", "lr": "0.5"}}
    with pytest.raises(ConfigError, match="has a field 'nosuch'"):
        split_overrides(["nosuch=1"], ["t_half"])
    with pytest.raises(ConfigError, match="not part of this run"):
        split_overrides(["t_other.lr=1"], ["t_half"])
    with pytest.raises(ConfigError, match="key=value"):
        split_overrides(["steps"], ["t_half"])
    # a mapping works the same (Python API)
    assert split_overrides({"t_half.scale": 0.1}, ["t_half", "t_other"]) == {"t_half": {"scale": 0.1}, "t_other": {}}


def _folder(path, n, extra_bad=False):
    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path / f"p{i}.png")
    if extra_bad:
        (path / "p_bad.png").write_bytes(b"not a png")
    return path


def test_run_records_failures_skips_and_unavailable_metrics_and_goes_on(tmp_path, caplog):
    Half.calls = 0
    images = _folder(tmp_path / "imgs", 3, extra_bad=True)
    res = api.run(methods="t_half", dataset=str(images), out=tmp_path / "run", metrics=["mse", "t_noweights"],
                  edits="none", overrides={"fail_call": 2}, device="cpu")
    assert res.counts["t_half"] == {"ok": 2, "failed": 1, "skipped": 1, "resumed": 0}
    rows = read_results(tmp_path / "run").set_index("image_id")
    assert rows.loc["p1", "status"] == "failed"
    assert rows.loc["p1", "error"] == "RuntimeError: synthetic failure"  # one line
    assert rows.loc["p_bad", "status"] == "skipped" and "not a readable image" in rows.loc["p_bad", "error"]
    assert "t_noweights" in res.unavailable_metrics
    assert [r.message for r in caplog.records].count(  # one summary line, before the first image
        "1 metric(s) not computed in this run: t_noweights (" + res.unavailable_metrics["t_noweights"] + ")") == 1
    # the other metric still ran, and matches a direct computation on the saved target/recon
    assert set(rows.loc[["p0", "p2"], "status"]) == {"ok"}
    page = (res.report_dir / "report.html").read_text()
    assert "t_noweights" in page and "gani-bench weights download t" in page
    counts = (res.report_dir / "counts.csv").read_text().splitlines()
    assert counts[1] == "t_half,2,1,1"


def test_saved_reconstruction_and_metric_match_the_method_output(tmp_path):
    images = _folder(tmp_path / "imgs", 1)
    res = api.run(methods="t_half", dataset=str(images), out=tmp_path / "run", metrics=["mse"], edits="none",
                  device="cpu", report=False)
    assert res.report_dir is None
    target = torch.from_numpy(np.asarray(Image.open(tmp_path / "run" / "images" / "_target" / "p0.png"), dtype=np.float32))
    recon = torch.from_numpy(np.asarray(Image.open(tmp_path / "run" / "images" / "t_half" / "p0.png"), dtype=np.float32))
    t = target / 127.5 - 1
    # fast preset (demo is not the dataset, so paper: 0.9) -> recon = 0.9 * target, quantised to 8 bits
    assert torch.allclose(recon / 127.5 - 1, 0.9 * t, atol=1 / 127.5 + 1e-6)
    row = read_results(tmp_path / "run").iloc[0]
    t = t.permute(2, 0, 1)[None]
    r = (recon / 127.5 - 1).permute(2, 0, 1)[None]
    # the metric scores the images as saved (the PNGs), exactly - not the method's float output
    assert row["metric:mse"] == float(METRICS.get("mse")("cpu").compute(r, t))
    assert row["metric:mse"] != pytest.approx(float(METRICS.get("mse")("cpu").compute(0.9 * t, t)), rel=1e-6)
    assert row["steps"] == {"only": 3} and row["config_json"].count('"scale": 0.9') == 1


def test_metrics_score_the_reconstruction_clipped_to_the_image_range(tmp_path):
    """A generator output outside [-1, 1] is scored as the image it is saved as (clipped)."""
    images = _folder(tmp_path / "imgs", 1)
    api.run(methods="t_half", dataset=str(images), out=tmp_path / "run", metrics=["mse"], edits="none",
            device="cpu", report=False, overrides={"scale": 3.0})
    target = torch.from_numpy(np.asarray(Image.open(tmp_path / "run" / "images" / "_target" / "p0.png"), dtype=np.float32))
    t = (target / 127.5 - 1).permute(2, 0, 1)[None]
    mse = METRICS.get("mse")("cpu")
    row = read_results(tmp_path / "run").iloc[0]
    assert row["metric:mse"] == pytest.approx(float(mse.compute((3 * t).clamp(-1, 1), t)), rel=1e-5)
    assert row["metric:mse"] < 0.5 * float(mse.compute(3 * t, t))  # the unclipped value differs clearly


def test_demo_defaults_to_the_fast_preset(tmp_path):
    res = api.run(methods="t_half", out=tmp_path / "run", limit=2, metrics=["mse"], edits="none", device="cpu",
                  report=False)
    rows = read_results(res.run_dir)
    assert len(rows) == 2 and rows["config_json"].str.contains('"scale": 0.5').all()
    import json

    assert json.loads((res.run_dir / "run.json").read_text())["preset"] == "fast"


def test_edited_images_are_saved_for_the_grid(tmp_path):
    res = api.run(methods="t_half", out=tmp_path / "run", limit=1, metrics=["mse"], device="cpu")
    edited = sorted(p.name for p in (res.run_dir / "images" / "t_half").glob("seed0000@*.png"))
    assert edited and all(n.startswith("seed0000@synthetic_") for n in edited)
    assert (res.report_dir / "grid.png").is_file() and (res.report_dir / "grid_edits_t_half.png").is_file()


REAL = ["sg2_w", "sg2_wplus", "pti", "gani"]


@pytest.mark.slow
def test_end_to_end_real_methods_on_demo(tmp_path):
    load_plugins()
    methods = [m for m in REAL if m in METHODS]
    if not methods:
        pytest.skip("no real inversion method is registered yet")
    overrides = {}
    for m in methods:
        fields = {f for f in METHODS.get(m).Config.__dataclass_fields__}
        for key in fields:
            if key in ("steps", "pivot_steps", "tune_steps"):
                overrides[f"{m}.{key}"] = 2
            elif key.endswith("w_avg_samples"):
                overrides[f"{m}.{key}"] = 64
    res = api.run(methods=methods, limit=2, out=tmp_path / "run", overrides=overrides, metrics=["mse"], device="cpu")
    rows = read_results(res.run_dir)
    assert sorted(rows["method"].unique()) == sorted(methods)
    assert (rows["status"] == "ok").all(), rows[["method", "error"]]
    assert rows.groupby("method").size().eq(2).all()
    assert np.isfinite(rows["metric:mse"]).all()
    assert rows["steps"].map(lambda st: sum(st.values()) > 0).all()
    for r in rows.itertuples():
        assert (res.run_dir / r.image_path).is_file()
    for name in ("table1.csv", "table1.md", "table1.tex", "report.html", "grid.png", "summary.csv", "timing.csv"):
        assert (res.report_dir / name).is_file(), name


class Tuner(Half):
    """Test double that 'tunes' G: one weight delta per image (value = image index + 1)."""

    name = "t_tuner"
    tunes_generator = True

    def invert(self, generator, targets, *, seed=0):
        res = super().invert(generator, targets, seed=seed)
        pname = "synthesis.b8.conv0.weight"
        shape = dict(generator.named_parameters())[pname].shape
        res.weight_deltas = [{pname: torch.full(shape, 0.01 * (i + 1))} for i in range(targets.shape[0])]
        return res


METHODS.add("t_tuner", Tuner, replace=True)


def test_save_deltas_writes_files_the_checkpoint_loader_reads_back(tmp_path):
    from gani_bench.generators import load_generator
    from gani_bench.checkpoints.native import load_weight_deltas
    from safetensors.torch import load_file

    res = api.run(methods="t_tuner", out=tmp_path / "run", limit=1, metrics=["mse"], edits="none", device="cpu",
                  save_deltas=True, report=False)
    folder = res.run_dir / "latents" / "t_tuner"
    G, info = load_generator("embedded-64", "cpu")
    deltas = load_weight_deltas(folder / "seed0000.deltas.safetensors", G)
    assert list(deltas) == ["synthesis.b8.conv0.weight"]
    assert torch.allclose(deltas["synthesis.b8.conv0.weight"], torch.full_like(deltas["synthesis.b8.conv0.weight"], 0.01))
    lat = load_file(str(folder / "seed0000.latents.safetensors"))["latents"]
    assert torch.allclose(lat, G.mapping.w_avg.reshape(1, -1).repeat(G.num_ws, 1))


def test_metric_defaults_depend_on_the_preset():
    from gani_bench.harness.runner import FAST_METRICS, resolve_metrics

    load_plugins()
    fast = resolve_metrics(None, "fast")
    assert fast and set(fast) <= set(FAST_METRICS) and "lpips_vgg" not in fast
    assert resolve_metrics(None, "paper") == METRICS.names() == resolve_metrics(["all"], "fast")
    assert resolve_metrics(["mse,psnr"], "paper") == ["mse", "psnr"]
    with pytest.raises(UnknownNameError, match="valid metrics"):
        resolve_metrics(["nope"], "fast")


def test_same_config_with_tuple_fields_resumes_after_its_json_round_trip(tmp_path):
    """run.json stores tuples as lists; the same config must still be recognised as the same."""
    from gani_bench.harness.runner import check_run_dir, write_run_record

    record = {"dataset": "demo", "dataset_fingerprint": "f", "generator": "embedded-64", "seed": 0,
              "methods": {"gani": {"config": {"features": ("grad", "sign", "theta"), "hidden": 4}}}}
    tmp_path.mkdir(exist_ok=True)
    write_run_record(tmp_path, record)
    check_run_dir(tmp_path, record, force=False)  # the same command again: no refusal
    changed = {**record, "methods": {"gani": {"config": {"features": ("grad",), "hidden": 4}}}}
    with pytest.raises(ConfigError, match=r"gani\.features: \['grad', 'sign', 'theta'\] -> \['grad'\]"):
        check_run_dir(tmp_path, changed, force=False)


def test_run_restores_the_callers_thread_count(tmp_path):
    """``threads=`` is the run's setting: the caller's process gets its own count back afterwards."""
    from gani_bench.api import run

    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    run(methods=["sg2_w"], dataset="demo", limit=1, out=tmp_path / "r", preset="fast_mse",
        overrides={"steps": 1}, metrics=["mse"], edits="none", threads=wanted, report=False, progress=False)
    assert torch.get_num_threads() == before
