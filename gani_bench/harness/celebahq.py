"""``gani-bench datasets prepare celebahq``: the CelebA-HQ test split from a CelebAMask-HQ download.

The split used by pSp, e4e, ReStyle, HyperStyle and PTI is "CelebA-HQ images whose source CelebA
file is in CelebA's official test partition" (files 182638..202599). CelebAMask-HQ ships the
mapping ``CelebA-HQ-to-CelebA-mapping.txt`` (columns ``idx orig_idx orig_file``), so the split is
derived, not downloaded. The papers report 2,824 test images; we refuse any other count, because
a different count means a different (e.g. re-numbered or partial) mapping and numbers that do
not compare with the papers'.

The manifest (file list + sha256, absolute root) goes to ``$GANI_BENCH_HOME/datasets/`` because
it names files on this machine; the shipped ``datasets/celebahq.json`` is its template.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from ..errors import DatasetError, GaniBenchError
from .datasets import get_manifest, prepared_dir, sha256_file

log = logging.getLogger(__name__)

MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
IMAGE_DIR = "CelebA-HQ-img"
#: CelebA's official test partition, by file number (list_eval_partition.txt)
CELEBA_TEST_FIRST = 182638
CELEBA_TEST_LAST = 202599
#: test images the papers report (HyperStyle/PTI/e4e); a different count is refused
EXPECTED_TEST_COUNT = 2824
DOWNLOAD_HINT = ("download CelebAMask-HQ from https://github.com/switchablenorms/CelebAMask-HQ "
                 "(Google Drive link in its README) and unzip it")


def _find_root(root: Path) -> Path:
    """Accept the CelebAMask-HQ folder itself or its parent."""
    for candidate in (root, root / "CelebAMask-HQ"):
        if (candidate / MAPPING_FILE).is_file():
            return candidate
    raise DatasetError(f"{root}: no {MAPPING_FILE} here; {DOWNLOAD_HINT}, then pass its folder with --root")


def parse_mapping(path: Path) -> List[Tuple[int, int, str]]:
    """Rows ``(idx, orig_idx, orig_file)`` of CelebAMask-HQ's mapping file."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or (lineno == 1 and parts[0] == "idx"):
                continue
            if len(parts) != 3:
                raise DatasetError(f"{path}:{lineno}: expected 3 columns (idx orig_idx orig_file), got {len(parts)}")
            try:
                rows.append((int(parts[0]), int(parts[1]), parts[2]))
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: idx and orig_idx must be integers: {line.strip()!r}") from None
    return rows


def test_rows(rows: List[Tuple[int, int, str]]) -> List[Tuple[int, int, str]]:
    """The rows whose CelebA source file number lies in the official test range."""
    selected = []
    for idx, orig_idx, orig_file in rows:
        try:
            number = int(Path(orig_file).stem)
        except ValueError:
            raise DatasetError(f"{MAPPING_FILE}: orig_file {orig_file!r} is not a numbered CelebA file name") from None
        if CELEBA_TEST_FIRST <= number <= CELEBA_TEST_LAST:
            selected.append((idx, orig_idx, orig_file))
    return sorted(selected)


def prepare_celebahq(root: Path | str, out_dir: Optional[Path] = None,
                     progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Derive the test split from ``root``, hash its files, write the manifest; return its path."""
    root = _find_root(Path(root).expanduser())
    rows = parse_mapping(root / MAPPING_FILE)
    selected = test_rows(rows)
    if len(selected) != EXPECTED_TEST_COUNT:
        raise DatasetError(
            f"{root / MAPPING_FILE}: {len(selected)} rows map to CelebA test files {CELEBA_TEST_FIRST}..{CELEBA_TEST_LAST}, "
            f"expected {EXPECTED_TEST_COUNT:,} (the papers' split); use the unmodified CelebAMask-HQ mapping file"
        )
    image_dir = root / IMAGE_DIR
    files = [(idx, image_dir / f"{idx}.jpg") for idx, _, _ in selected]
    missing = [p for _, p in files if not p.is_file()]
    if missing:
        raise DatasetError(f"{image_dir}: {len(missing)} of {len(files)} test images are missing (first: {missing[0].name}); re-extract CelebA-HQ-img")
    template = get_manifest("celebahq").to_dict() if _has_template() else {"name": "celebahq"}
    images = []
    for n, (idx, path) in enumerate(files):
        images.append({"id": f"{idx:05d}", "path": path.name, "sha256": sha256_file(path)})
        if progress is not None:
            progress(n + 1, len(files))
    by_idx = {idx: (orig_idx, orig_file) for idx, orig_idx, orig_file in selected}
    for entry in images:
        entry["celeba_file"] = by_idx[int(entry["id"])][1]
    manifest = dict(template)
    manifest.update({"root": str(image_dir.resolve()), "images": images,
                     "split": {**template.get("split", {}), "count": len(images),
                               "derived_from": str((root / MAPPING_FILE).resolve())}})
    out_dir = Path(out_dir) if out_dir else prepared_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "celebahq.json"
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    tmp.replace(out)
    log.info("wrote %s (%d images)", out, len(images))
    return out


def _has_template() -> bool:
    try:
        get_manifest("celebahq")
        return True
    except GaniBenchError:
        return False
