"""Dataset manifests, the registry, folder datasets and loading (rendered and file images)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gani_bench.errors import DatasetError, UnknownNameError
from gani_bench.harness.datasets import (
    builtin_manifest_dir,
    dataset_names,
    get_manifest,
    iter_samples,
    list_datasets,
    load_sample,
    open_dataset,
    sha256_file,
)

BUILTIN = ["afhq", "cars", "celebahq", "churches", "demo", "ffhq", "horses"]


def test_builtin_manifests_are_registered_and_complete():
    assert set(BUILTIN) <= set(dataset_names())
    for name in BUILTIN:
        m = get_manifest(name)
        assert m.name == name
        for field in ("description", "license", "source", "generator", "crop", "alignment"):
            assert getattr(m, field), f"{name}.{field} is empty"
        assert m.split.get("rule"), name


def test_manifest_generators_are_registered_generators():
    from gani_bench.generators import GENERATORS

    for name in BUILTIN:
        gen = get_manifest(name).generator
        assert gen in GENERATORS, f"{name} points at unknown generator {gen}"
        assert GENERATORS.get(gen).resolution == get_manifest(name).resolution


def test_manifest_folder_is_not_a_python_package():
    assert not (builtin_manifest_dir() / "__init__.py").exists()


def test_demo_photos_match_their_recorded_sha256():
    m = get_manifest("demo")
    files = [e for e in m.images if "path" in e]
    renders = [e for e in m.images if "render" in e]
    assert len(files) == 3 and len(renders) == 5
    for e in files:
        assert sha256_file(builtin_manifest_dir() / e["path"]) == e["sha256"]
        assert e["license"].startswith(("public domain", "CC0"))
    assert {e["render"]["truncation_psi"] for e in renders} == {0.7}


def test_unknown_dataset_is_one_line_listing_names_and_folder_hint():
    with pytest.raises(UnknownNameError) as exc:
        open_dataset("no-such-set")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "demo" in msg and "celebahq" in msg and "folder" in msg


def test_demo_rendered_images_are_the_generator_at_the_recorded_seed():
    from gani_bench.generators import load_generator

    G, _ = load_generator("embedded-64", "cpu")
    ds = open_dataset("demo", limit=2)
    entry = ds.entries[1]
    sample = load_sample(ds, entry, 64, generator_provider=lambda name: G, run_generator_name="embedded-64")
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(entry.render["seed"]))
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.7)
        img = G.synthesis(ws, noise_mode="const")
    assert torch.allclose(sample.target, img[0].clamp(-1, 1))
    assert torch.allclose(sample.true_latent, ws[0])
    # a different run generator: the true latent is not claimed
    other = load_sample(ds, entry, 64, generator_provider=lambda name: G, run_generator_name="x")
    assert other.true_latent is None


def test_demo_loads_all_eight_at_64px():
    from gani_bench.generators import load_generator

    G, _ = load_generator("embedded-64", "cpu")
    ds = open_dataset("demo")
    skipped = []
    samples = list(iter_samples(ds, ds.entries, 64, lambda e, r: skipped.append(r), generator_provider=lambda n: G))
    assert skipped == []
    assert [s.image_id for s in samples][-3:] == ["astronaut", "coffee", "chelsea"]
    assert all(s.target.shape == (3, 64, 64) for s in samples)


def test_limit_keeps_the_fingerprint_of_the_full_list():
    a, b = open_dataset("demo"), open_dataset("demo", limit=3)
    assert len(b.entries) == 3 and a.fingerprint == b.fingerprint


def _img(path, size=(32, 32), color=(10, 20, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def test_folder_dataset_sorted_ids_and_bad_files_skipped_once(tmp_path):
    _img(tmp_path / "b.png")
    _img(tmp_path / "a.jpg")
    _img(tmp_path / "sub" / "c.png")
    _img(tmp_path / "dup.png")
    _img(tmp_path / "dup.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    _img(tmp_path / "tiny.png", size=(8, 8))
    (tmp_path / "notes.txt").write_text("not an image")
    ds = open_dataset(str(tmp_path))
    ids = [e.image_id for e in ds.entries]
    assert ids == ["a", "b", "broken", "dup.jpg", "dup.png", "sub__c", "tiny"]
    skipped = []
    samples = list(iter_samples(ds, ds.entries, 16, lambda e, reason: skipped.append((e.image_id, reason))))
    assert [s.image_id for s in samples] == ["a", "b", "dup.jpg", "dup.png", "sub__c"]
    assert [s for s, _ in skipped] == ["broken", "tiny"]
    assert all("\n" not in r for _, r in skipped)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no image files"):
        open_dataset(str(tmp_path))


def test_user_root_datasets_need_root_and_accept_env(tmp_path, monkeypatch):
    monkeypatch.delenv("GANI_BENCH_FFHQ_ROOT", raising=False)
    with pytest.raises(DatasetError) as exc:
        open_dataset("ffhq")
    assert "root='DIR'" in str(exc.value) and "GANI_BENCH_FFHQ_ROOT" in str(exc.value)
    _img(tmp_path / "00001.png")
    _img(tmp_path / "00000.png")
    monkeypatch.setenv("GANI_BENCH_FFHQ_ROOT", str(tmp_path))
    assert [e.image_id for e in open_dataset("ffhq").entries] == ["00000", "00001"]
    other = tmp_path / "other"
    _img(other / "x.png")
    assert [e.image_id for e in open_dataset("ffhq", root=other).entries] == ["x"]


def test_unprepared_celebahq_says_what_to_download_and_the_command():
    with pytest.raises(DatasetError) as exc:
        open_dataset("celebahq")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "CelebAMask-HQ" in msg and "github.com/switchablenorms/CelebAMask-HQ" in msg
    assert "gani-bench datasets prepare celebahq --root DIR" in msg
    status = {r["name"]: r["status"] for r in list_datasets()}
    assert status["celebahq"].startswith("needs: gani-bench datasets prepare")
    assert status["demo"] == "ready"


def test_manifest_file_path_and_sha_mismatch_skip(tmp_path):
    _img(tmp_path / "img" / "one.png")
    good = sha256_file(tmp_path / "img" / "one.png")
    manifest = {"name": "mine", "generator": "embedded-64", "resolution": 64, "root": str(tmp_path / "img"),
                "images": [{"id": "one", "path": "one.png", "sha256": good},
                           {"id": "two", "path": "one.png", "sha256": "0" * 64}]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(manifest))
    ds = open_dataset(str(path))
    skipped = []
    out = list(iter_samples(ds, ds.entries, 32, lambda e, r: skipped.append((e.image_id, r))))
    assert [s.image_id for s in out] == ["one"]
    assert skipped[0][0] == "two" and "does not match the manifest" in skipped[0][1]


def test_bad_manifest_field_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "imagez": []}))
    with pytest.raises(DatasetError, match="unknown manifest field"):
        open_dataset(str(path))


def test_loaded_photo_equals_the_shipped_png():
    ds = open_dataset("demo")
    entry = next(e for e in ds.entries if e.image_id == "astronaut")
    sample = load_sample(ds, entry, 64)
    arr = np.asarray(Image.open(entry.path).convert("RGB"), dtype=np.float32)
    assert torch.allclose(sample.target, torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1)


def test_cli_run_on_unprepared_celebahq_prints_exactly_one_line(capsys):
    from gani_bench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--dataset", "celebahq", "--no-progress"])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: dataset 'celebahq' is not prepared")
