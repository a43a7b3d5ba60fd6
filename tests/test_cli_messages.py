"""Every bad input to ``gani-bench run`` is one line naming the input and the fix, exit code 2.

Driven through the real click group (lazy command loading, error rendering, CLI vocabulary)
with click's CliRunner; each case stops before any generator is built, so the file runs fast.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gani_bench.cli import cli


TINY_GENERATOR = Path(__file__).resolve().parent / "data" / "ckpt" / "rosinality_tiny.pt"


def _tiny_inputs(tmp_path) -> list:
    """A one-image folder and a 32 px checkpoint: the run gets to its run-dir check in a second."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (32, 32), (90, 120, 30)).save(folder / "a.png")
    return ["--dataset", str(folder), "--generator", str(TINY_GENERATOR)]


def _run(args, tmp_path):
    result = CliRunner().invoke(cli, ["run", "--no-progress", "--out", str(tmp_path / "run"), *args])
    lines = result.output.strip().splitlines()
    return result.exit_code, lines


def _one_error_line(args, tmp_path) -> str:
    code, lines = _run(args, tmp_path)
    assert code == 2, lines
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert not any("Traceback" in line for line in lines)
    return errors[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_on_a_machine_without_cuda(device, tmp_path):
    assert _one_error_line(["--device", device], tmp_path) == (
        f"error: --device {device}: CUDA is not available on this machine (torch {torch.__version__}); "
        "use --device cpu or --device auto")


def test_unknown_device_type(tmp_path):
    assert _one_error_line(["--device", "gpu"], tmp_path) == (
        "error: --device gpu: not a device; use auto, cpu, cuda or cuda:N")


def test_limit_zero_is_refused(tmp_path):
    assert _one_error_line(["--limit", "0"], tmp_path) == (
        "error: --limit 0: must be at least 1; leave it out to use every image")


def test_threads_zero_is_refused(tmp_path):
    assert _one_error_line(["--threads", "0"], tmp_path) == (
        "error: --threads 0: must be at least 1; leave it out to use what the machine offers")


def test_every_listed_preset_is_accepted(tmp_path):
    """The presets `methods list` shows for the built-in methods pass option parsing and the preset
    check (the dataset error comes next). Test-double methods other tests register are left out."""
    from gani_bench.cli.methods import method_descriptions
    from gani_bench.methods.base import METHODS

    builtin = [r for r in method_descriptions() if METHODS.get(r["name"]).__module__.startswith("gani_bench.")]
    presets = set.intersection(*(set(r["presets"]) for r in builtin))
    assert {"paper", "fast", "mse", "fast_mse"} <= presets
    names = ",".join(r["name"] for r in builtin)
    for preset in sorted(presets):
        line = _one_error_line(["-m", names, "--preset", preset, "--dataset", "no/such/folder"], tmp_path)
        assert line.startswith("error: --dataset no/such/folder: no such folder"), (preset, line)


def test_unknown_preset_lists_the_valid_ones(tmp_path):
    line = _one_error_line(["--preset", "turbo", "-m", "pti"], tmp_path)
    assert line == "error: --preset turbo: not a preset of pti; valid presets: paper, fast, fast_mse, mse"


def test_missing_dataset_folder(tmp_path):
    missing = tmp_path / "nosuchdir"
    line = _one_error_line(["--dataset", str(missing)], tmp_path)
    assert line.startswith(f"error: --dataset {missing}: no such folder; give an existing folder of images, or a dataset name (")


def test_missing_generator_file(tmp_path):
    missing = tmp_path / "nosuch.pkl"
    line = _one_error_line(["--generator", str(missing), "-m", "pti", "--limit", "1"], tmp_path)
    assert line.startswith(f"error: {missing}: no such file; check the path, or give a registered generator name (")


def test_run_dir_of_another_config_names_cli_flags(tmp_path):
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"dataset": "demo", "methods": {}, "seed": 7}))
    line = _one_error_line(["-m", "pti", "--edits", "none", "--metrics", "mse", *_tiny_inputs(tmp_path)], tmp_path)
    assert line.startswith(f"error: {run} holds results of a different config (")
    assert line.endswith("use another --out, or --force to discard them")
    assert "seed: 7 -> 0" in line


def test_python_api_names_keyword_arguments(tmp_path):
    import json

    from gani_bench.api import run
    from gani_bench.errors import ConfigError

    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"dataset": "demo", "methods": {}, "seed": 7}))
    with pytest.raises(ConfigError) as exc:
        tiny = _tiny_inputs(tmp_path)
        run(methods=["pti"], dataset=tiny[1], generator=tiny[3], out=out, edits="none", metrics=["mse"])
    assert str(exc.value).endswith("use another out=, or force=True to discard them")
    with pytest.raises(ConfigError, match=r"^limit=0: must be at least 1; leave it out to use every image$"):
        run(methods=["pti"], limit=0, out=out)
    with pytest.raises(ConfigError, match=r"^device='gpu': not a device; use auto, cpu, cuda or cuda:N$"):
        run(methods=["pti"], device="gpu", out=out)


def test_unknown_bare_dataset_name_lists_the_valid_ones(tmp_path):
    line = _one_error_line(["--dataset", "nosuchname"], tmp_path)
    assert line.startswith("error: unknown dataset 'nosuchname' (neither a dataset name nor a folder); valid datasets: ")
    assert "demo" in line


def test_set_names_the_flag_from_the_cli_and_the_mapping_from_the_api(tmp_path):
    from gani_bench.api import run
    from gani_bench.errors import ConfigError

    line = _one_error_line(["-m", "pti", "--set", "nosuch=1"], tmp_path)
    assert line.startswith("error: --set nosuch: none of the selected methods (pti) has a field 'nosuch'")
    with pytest.raises(ConfigError, match=r"^overrides\['nosuch'\]: none of the selected methods \(pti\) has a field 'nosuch'"):
        run(methods=["pti"], overrides={"nosuch": 1}, out=tmp_path / "run")


def test_vocabulary_is_the_apis_outside_the_cli_block():
    from gani_bench.interface import cli_vocabulary, flag, opt

    assert (opt("batch_size", 0), opt("root", Path("x/y")), opt("out"), flag("force")) == \
        ("batch_size=0", "root='x/y'", "out=", "force=True")
    with cli_vocabulary():
        assert (opt("batch_size", 0), opt("root", Path("x/y")), opt("out"), flag("force")) == \
            ("--batch-size 0", "--root x/y", "--out", "--force")
    assert opt("out") == "out="  # restored after the block


def test_report_of_a_missing_run_directory(tmp_path):
    missing = tmp_path / "runs" / "nosuch"
    result = CliRunner().invoke(cli, ["report", str(missing), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {missing}: no such run directory; give the folder a gani-bench run wrote (its --out)"]


def test_cuda_index_beyond_the_machines_gpus(monkeypatch, tmp_path):
    """Simulated one-GPU machine: the message lists the devices there are."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _one_error_line(["--device", "cuda:3"], tmp_path) == (
        "error: --device cuda:3: this machine has 1 CUDA device(s) (cuda:0); use one of those")
