"""Image grids from a run's saved PNGs: targets beside each method's reconstruction and edits.

The runner saves ``images/_target/<id>.png``, ``images/<method>/<id>.png`` and, for the first
few images, ``images/<method>/<id>@<edit>.png``. Grids are assembled from those files only, so
a report can be rebuilt from a run directory without a generator or GPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image, ImageDraw

TARGET_DIR = "_target"
#: grid cells are at most this many pixels wide (a 1024 px run would otherwise give huge pages)
MAX_CELL = 128
LABEL_H = 16


def _open_cell(path: Path, cell: int) -> Image.Image:
    if not path.is_file():
        blank = Image.new("RGB", (cell, cell), (235, 235, 235))
        ImageDraw.Draw(blank).line([(0, 0), (cell, cell)], fill=(200, 200, 200))
        return blank
    with Image.open(path) as im:
        im = im.convert("RGB")
        return im if im.size == (cell, cell) else im.resize((cell, cell), Image.LANCZOS)


def _cell_size(paths: Sequence[Path]) -> int:
    for p in paths:
        if p.is_file():
            with Image.open(p) as im:
                return min(MAX_CELL, im.size[0])
    return 64


def compose(rows: List[List[Path]], headers: Sequence[str]) -> Image.Image:
    """Paste a table of image files into one picture under a header row of column labels.

    Image ids are listed beside the grid in the HTML page: they do not fit 64 px cells.
    """
    cell = _cell_size([p for r in rows for p in r])
    grid = Image.new("RGB", (len(headers) * cell, LABEL_H + len(rows) * cell), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for c, text in enumerate(headers):
        draw.text((c * cell + 2, 2), str(text)[: max(4, cell // 6)], fill=(0, 0, 0))
    for r, files in enumerate(rows):
        for c, path in enumerate(files):
            grid.paste(_open_cell(path, cell), (c * cell, LABEL_H + r * cell))
    return grid


def reconstruction_grid(run_dirs: Dict[str, Path], image_ids: Sequence[str]) -> Optional[Image.Image]:
    """Rows = images; columns = target, then each method's reconstruction.

    ``run_dirs`` maps a method label to the run directory holding it and the method's folder name
    (``label -> run_dir / "images" / method``).
    """
    if not run_dirs or not image_ids:
        return None
    any_dir = next(iter(run_dirs.values())).parent
    rows = []
    for image_id in image_ids:
        target = next((d.parent / TARGET_DIR / f"{image_id}.png" for d in run_dirs.values()
                       if (d.parent / TARGET_DIR / f"{image_id}.png").is_file()), any_dir / TARGET_DIR / f"{image_id}.png")
        rows.append([target] + [d / f"{image_id}.png" for d in run_dirs.values()])
    return compose(rows, ["target"] + list(run_dirs))


def edit_grid(method_dir: Path, image_ids: Sequence[str], edits: Sequence[str]) -> Optional[Image.Image]:
    """Rows = images; columns = the reconstruction, then each edit through the method's result."""
    if not edits or not image_ids:
        return None
    rows = [[method_dir / f"{i}.png"] + [method_dir / f"{i}@{e}.png" for e in edits] for i in image_ids]
    return compose(rows, ["inversion"] + list(edits))


def edits_in(method_dir: Path) -> List[str]:
    """Edit names that have at least one rendered image in ``method_dir``."""
    names = {p.stem.split("@", 1)[1] for p in method_dir.glob("*@*.png")}
    return sorted(names)


def grid_image_ids(ids: Sequence[str], max_rows: int = 8) -> List[str]:
    return list(ids)[:max_rows]


def save(img: Image.Image, path: Path) -> Tuple[int, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=True)
    return img.size
