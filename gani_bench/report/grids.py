"""Image grids from a run's saved PNGs: targets beside each method's reconstruction and edits.

The runner saves ``images/_target/<id>.png``, ``images/<method>/<id>.png`` and, for the first
few images, ``images/<method>/<id>@<edit>.png``. Grids are assembled from those files only, so
a report can be rebuilt from a run directory without a generator or GPU.

A grid must be readable on its own (pasted into a paper draft or a chat, without the HTML
around it), so its labels are drawn into the PNG: method and full edit names above the
columns, image ids left of the rows. Small images (the 64 px demo) are enlarged by an integer
factor with nearest-neighbour sampling, so every pixel stays a crisp square and nothing looks
smoother (better) than the method made it. Text uses PIL's built-in font (no font download).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

TARGET_DIR = "_target"
#: cells are enlarged (nearest neighbour, integer factor) up to at least this size
MIN_CELL = 128
#: grid cells are at most this many pixels wide (a 1024 px run would otherwise give huge pages)
MAX_CELL = 256
#: most width of the column of row labels (image ids) on the left
ROW_LABEL_W = 96
_PAD = 3


#: label text size in px (PIL's built-in font scales where Pillow has FreeType)
FONT_PX = 14


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=FONT_PX)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def cell_size(source: int) -> int:
    """Displayed cell size for ``source`` px images: integer-enlarged when small, capped when large."""
    if source < MIN_CELL:
        return source * math.ceil(MIN_CELL / source)
    return min(source, MAX_CELL)


def _open_cell(path: Path, cell: int) -> Image.Image:
    if not path.is_file():
        blank = Image.new("RGB", (cell, cell), (235, 235, 235))
        ImageDraw.Draw(blank).line([(0, 0), (cell, cell)], fill=(200, 200, 200))
        return blank
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size == (cell, cell):
            return im
        # enlarging: nearest neighbour (no invented smoothness); shrinking: Lanczos (no aliasing)
        resample = Image.NEAREST if im.size[0] < cell else Image.LANCZOS
        return im.resize((cell, cell), resample)


def _source_size(paths: Sequence[Path]) -> int:
    for p in paths:
        if p.is_file():
            with Image.open(p) as im:
                return im.size[0]
    return 64


def wrap_label(text: str, width: int, draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont) -> List[str]:
    """Break ``text`` into lines no wider than ``width`` px, preferring breaks after ``_ - + /``.

    Nothing is cut off: a part too long for one line is split between characters.
    """
    def fits(s: str) -> bool:
        return draw.textlength(s, font=font) <= width

    parts: List[str] = []
    current = ""
    for ch in text:
        current += ch
        if ch in "_-+/ ":
            parts.append(current)
            current = ""
    if current:
        parts.append(current)
    lines: List[str] = []
    line = ""
    for part in parts:
        if fits(line + part):
            line += part
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in part:  # a part wider than the cell: split it between characters
            if fits(line + ch):
                line += ch
            else:
                lines.append(line)
                line = ch
    if line:
        lines.append(line)
    return lines or [""]


def compose(rows: List[List[Path]], headers: Sequence[str], row_labels: Optional[Sequence[str]] = None) -> Image.Image:
    """Paste a table of image files into one picture, labelled: column headers above, row labels left."""
    cell = cell_size(_source_size([p for r in rows for p in r]))
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = int(probe.textbbox((0, 0), "Ag_|", font=font)[3]) + 2
    wrapped = [wrap_label(str(h), cell - 2 * _PAD, probe, font) for h in headers]
    header_h = max(len(w) for w in wrapped) * line_h + 2 * _PAD
    # as wide as the longest image id needs, at most ROW_LABEL_W (longer ids wrap)
    label_w = min(ROW_LABEL_W, int(max(probe.textlength(str(t), font=font) for t in row_labels)) + 2 * _PAD + 2) if row_labels else 0
    grid = Image.new("RGB", (label_w + len(headers) * cell, header_h + len(rows) * cell), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for c, lines in enumerate(wrapped):
        for k, text in enumerate(lines):
            draw.text((label_w + c * cell + _PAD, _PAD + k * line_h), text, fill=(0, 0, 0), font=font)
    for r, files in enumerate(rows):
        if row_labels:
            for k, text in enumerate(wrap_label(str(row_labels[r]), label_w - 2 * _PAD, probe, font)[: cell // line_h]):
                draw.text((_PAD, header_h + r * cell + _PAD + k * line_h), text, fill=(60, 60, 60), font=font)
        for c, path in enumerate(files):
            grid.paste(_open_cell(path, cell), (label_w + c * cell, header_h + r * cell))
    return grid


def reconstruction_grid(run_dirs: Dict[str, Path], image_ids: Sequence[str]) -> Optional[Image.Image]:
    """Rows = images; columns = target, then each method's reconstruction.

    ``run_dirs`` maps a method label to the run directory holding it and the method's folder name
    (``label -> run_dir / "images" / method``).
    """
    if not run_dirs or not image_ids:
        return None
    rows = [[target_path(run_dirs.values(), image_id)] + [d / f"{image_id}.png" for d in run_dirs.values()]
            for image_id in image_ids]
    return compose(rows, ["target"] + list(run_dirs), image_ids)


def target_path(method_dirs: Sequence[Path], image_id: str) -> Path:
    """The saved target of ``image_id`` (from whichever run holds it)."""
    method_dirs = list(method_dirs)
    for d in method_dirs:
        p = d.parent / TARGET_DIR / f"{image_id}.png"
        if p.is_file():
            return p
    return method_dirs[0].parent / TARGET_DIR / f"{image_id}.png"


def edit_grid(method_dir: Path, image_ids: Sequence[str], edits: Sequence[str]) -> Optional[Image.Image]:
    """Rows = images; columns = the target, the inversion, then each edit through the method's result."""
    if not edits or not image_ids:
        return None
    rows = [[target_path([method_dir], i), method_dir / f"{i}.png"] + [method_dir / f"{i}@{e}.png" for e in edits]
            for i in image_ids]
    return compose(rows, ["target", "inversion"] + list(edits), image_ids)


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
