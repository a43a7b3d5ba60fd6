"""The report page as a reader meets it: section order, no machine paths, notices, honest plots.

One real (tiny) run feeds the page tests: a 32 px checkpoint from tests/data, a folder of two
images (one needs a centre crop), PTI with two steps. A headless Chromium, where installed,
renders the page and its DOM gives the order of the sections.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from gani_bench.cli import cli
from gani_bench.report.html import SECTIONS
from gani_bench.report.plots import box_strip_svg

TINY_GENERATOR = Path(__file__).resolve().parent / "data" / "ckpt" / "rosinality_tiny.pt"
EXPECTED_ORDER = ["table1", "grid", "headline", "edit", "locality", "edit-grids", "timing", "plots", "images", "configs", "run"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(run dir, CLI output) of a two-image PTI run whose report has every section."""
    root = tmp_path_factory.mktemp("page")
    folder = root / "imgs"
    folder.mkdir()
    Image.new("RGB", (48, 32), (200, 40, 40)).save(folder / "wide.png")
    Image.new("RGB", (32, 32), (40, 40, 200)).save(folder / "square.png")
    out = root / "run"
    result = CliRunner().invoke(cli, [
        "run", "-m", "pti", "--preset", "fast_mse", "--set", "pivot_steps=2", "--set", "tune_steps=2",
        "--dataset", str(folder), "--generator", str(TINY_GENERATOR), "--out", str(out), "--no-progress",
        "--metrics", "mse,psnr,ms_ssim,id_similarity,edit_consistency_mse,locality_mse", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_report_has_no_absolute_machine_paths(tiny_run):
    out, _ = tiny_run
    forbidden = [str(out.parent), str(out.parent.resolve()), str(Path.home()), str(TINY_GENERATOR.parent)]
    home = os.environ.get("GANI_BENCH_HOME")
    if home:
        forbidden.append(home)
    for f in (out / "report").iterdir():
        text = f.read_bytes().decode("utf-8", errors="replace")
        for path in forbidden:
            assert path not in text, (f.name, path)
    page = (out / "report" / "report.html").read_text()
    assert "$GANI_BENCH_HOME/curricularface-ir101" in page  # the unavailable metric's reason, cache path scrubbed


def test_page_embeds_the_grid_pngs_byte_for_byte(tiny_run):
    import base64

    report = tiny_run[0] / "report"
    page = (report / "report.html").read_text()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    decoded = [Image.open(io.BytesIO(base64.b64decode(u, validate=True))).convert("RGB") for u in uris]
    on_disk = Image.open(report / "grid.png").convert("RGB")
    assert len(decoded) == 2 and decoded[0].tobytes() == on_disk.tobytes()


def test_sections_come_in_the_readers_order(tiny_run):
    page = (tiny_run[0] / "report" / "report.html").read_text()
    ids = re.findall(r'<section id="([\w-]+)">', page)
    assert ids == EXPECTED_ORDER
    assert [s for s, _ in SECTIONS if s in ids] == ids


def test_load_notices_go_to_the_report_and_one_log_line(tiny_run):
    out, output = tiny_run
    page = (out / "report" / "report.html").read_text()
    assert "<li>wide: centre-cropped 48x32 to 32x32</li>" in page
    lines = output.splitlines()
    assert sum("centre-cropped" in line for line in lines) == 1
    assert "1 image(s) adjusted on load (e.g. wide: centre-cropped 48x32 to 32x32); each is listed in the report" in lines
    assert sum(line.startswith("CPU threads: 1 (as asked") for line in lines) == 1


def test_one_method_draws_no_time_scatter_and_mse_axis_is_not_negative(tiny_run):
    page = (tiny_run[0] / "report" / "report.html").read_text()
    assert "time vs" not in page
    # near-zero MSEs: 8 % padding below the smallest would put the axis below zero
    svg = box_strip_svg({"a": [0.0001, 0.05, 0.02], "b": [0.001]}, "mse")
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([-0-9.e]+)</text>', svg)]
    assert min(ticks) == 0.0 and max(ticks) > 0.05


def test_grids_show_at_their_own_size_and_wide_tables_scroll(tiny_run):
    """A labelled grid scaled down to the page garbles its labels (seen with 11 methods): it keeps
    its size in a sideways-scrolling box, as do tables with one column per method."""
    page = (tiny_run[0] / "report" / "report.html").read_text()
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    grid_rule = re.search(r"img\.grid\{([^}]*)\}", css).group(1)
    assert "max-width" not in grid_rule and "image-rendering:pixelated" in grid_rule
    assert ".wide{overflow-x:auto" in css
    assert page.count('<div class="wide"><img class="grid"') == 2  # reconstruction grid + one edit grid
    assert '<div class="wide"><table>' in page
    # captions come before their grid; each method's edit grid folds, the first one open
    assert '<figure><figcaption class="note">Targets and reconstructions; rows: ' in page
    assert re.search(r'<details open><summary>Edits through pti</summary><figure><figcaption class="note">Edits through pti; rows: ', page)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on this machine (apt-get install chromium)")
def test_headless_browser_sees_sections_in_order_and_screenshots(tiny_run, tmp_path):
    page = tiny_run[0] / "report" / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert re.findall(r'<section id="([\w-]+)">', dom.stdout) == EXPECTED_ORDER
    shot = tmp_path / "page.png"
    subprocess.run([_chromium(), *flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, text=True, timeout=120)
    assert shot.is_file() and Image.open(shot).size == (1280, 2400)
    if os.environ.get("GANI_BENCH_SCREENSHOT_DIR"):  # keep it to look at
        shutil.copy(shot, Path(os.environ["GANI_BENCH_SCREENSHOT_DIR"]) / "report_page.png")
