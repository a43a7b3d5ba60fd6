"""CelebA-HQ test split preparation on a fake CelebAMask-HQ tree.

The fake tree has the real shape: a mapping file whose rows put exactly 2,824 CelebA-HQ images
in CelebA's test range (plus rows outside it, at both range borders), and tiny 16 px JPEGs for the
test rows. So the count check runs against the real constant instead of a patched one.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from gani_bench.errors import DatasetError
from gani_bench.harness import celebahq
from gani_bench.harness.datasets import iter_samples, list_datasets, open_dataset, prepared_dir, sha256_file

FIRST, LAST = celebahq.CELEBA_TEST_FIRST, celebahq.CELEBA_TEST_LAST


@pytest.fixture(autouse=True)
def _no_prepared_manifest_left_behind():
    """Other tests expect celebahq unprepared: remove what a test here wrote, pass or fail."""
    yield
    (prepared_dir() / "celebahq.json").unlink(missing_ok=True)


def _fake_tree(root: Path, n_test: int = 2824, drop_image: bool = False) -> Path:
    """idx 0..: 100 train/val rows (incl. 182637), then n_test test rows (incl. 182638, 202599), then 202600."""
    base = root / "CelebAMask-HQ"
    imgs = base / "CelebA-HQ-img"
    imgs.mkdir(parents=True)
    rows = []
    idx = 0
    for k in range(99):
        rows.append((idx, 1000 + k, f"{1001 + k:06d}.jpg"))
        idx += 1
    rows.append((idx, FIRST - 2, f"{FIRST - 1:06d}.jpg"))  # last validation file
    idx += 1
    test_numbers = [FIRST, LAST] + [FIRST + 1 + 7 * k for k in range(n_test - 2)]
    first_test_idx = idx
    for number in test_numbers:
        rows.append((idx, number - 1, f"{number:06d}.jpg"))
        idx += 1
    rows.append((idx, LAST, f"{LAST + 1:06d}.jpg"))  # outside the test range
    lines = ["idx         orig_idx    orig_file"] + [f"{a:<12d}{b:<12d}{c}" for a, b, c in rows]
    (base / celebahq.MAPPING_FILE).write_text("\n".join(lines) + "\n")
    tiny = Image.new("RGB", (16, 16), (120, 80, 40))
    for i in range(first_test_idx, first_test_idx + n_test):
        if drop_image and i == first_test_idx + 5:
            continue
        tiny.save(imgs / f"{i}.jpg", quality=90)
    return root


def test_test_rows_respect_the_range_borders():
    rows = [(0, 0, f"{FIRST - 1}.jpg"), (1, 0, f"{FIRST}.jpg"), (2, 0, f"{LAST}.jpg"), (3, 0, f"{LAST + 1}.jpg")]
    assert [r[0] for r in celebahq.test_rows(rows)] == [1, 2]


def test_prepare_writes_the_2824_image_manifest_into_the_cache(tmp_path):
    _fake_tree(tmp_path)
    out = celebahq.prepare_celebahq(tmp_path)  # parent of CelebAMask-HQ is accepted
    assert out == prepared_dir() / "celebahq.json"
    manifest = json.loads(out.read_text())
    assert len(manifest["images"]) == 2824 == manifest["split"]["count"]
    assert manifest["images"][0] == {"id": "00100", "path": "100.jpg",
                                     "sha256": sha256_file(tmp_path / "CelebAMask-HQ" / "CelebA-HQ-img" / "100.jpg"),
                                     "celeba_file": f"{FIRST:06d}.jpg"}
    assert manifest["generator"] == "stylegan2-ffhq-1024"  # template fields carried over
    # now the dataset resolves and loads
    ds = open_dataset("celebahq", limit=2)
    assert [e.image_id for e in ds.entries] == ["00100", "00101"]
    samples = list(iter_samples(ds, ds.entries, 32, lambda e, r: pytest.fail(r)))
    assert samples[0].target.shape == (3, 32, 32)
    assert {r["name"]: r["status"] for r in list_datasets()}["celebahq"] == "ready"


def test_wrong_count_is_refused(tmp_path):
    _fake_tree(tmp_path, n_test=2823)
    with pytest.raises(DatasetError) as exc:
        celebahq.prepare_celebahq(tmp_path / "CelebAMask-HQ")
    msg = str(exc.value)
    assert "2823 rows" in msg and "expected 2,824" in msg and "\n" not in msg
    assert not (prepared_dir() / "celebahq.json").exists()


def test_missing_image_is_refused(tmp_path):
    _fake_tree(tmp_path, drop_image=True)
    with pytest.raises(DatasetError, match="1 of 2824 test images are missing"):
        celebahq.prepare_celebahq(tmp_path)


def test_no_mapping_file_names_the_download(tmp_path):
    with pytest.raises(DatasetError, match="CelebAMask-HQ"):
        celebahq.prepare_celebahq(tmp_path)


def test_cli_prepare_and_list(tmp_path):
    from gani_bench.cli.harness import datasets

    _fake_tree(tmp_path)
    runner = CliRunner()
    res = runner.invoke(datasets, ["prepare", "celebahq", "--root", str(tmp_path / "CelebAMask-HQ")])
    assert res.exit_code == 0, res.output
    assert "prepared celebahq" in res.output
    res = runner.invoke(datasets, ["list"])
    line = next(l for l in res.output.splitlines() if l.startswith("celebahq"))
    assert line.rstrip().endswith("ready")
