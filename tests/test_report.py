"""Reports from a hand-built result store: statistics, Table 1 layout, bolding, formats, plots."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from gani_bench.harness.store import ResultRow, ResultStore
from gani_bench.report import build_report
from gani_bench.report.grids import ROW_LABEL_W
from gani_bench.report.plots import box_stats, box_strip_svg
from gani_bench.report.tables import best_mask, to_latex, to_markdown

NAN = float("nan")
# method -> per image (id_sim, ms_ssim, lpips, mse, seconds)
DATA = {
    "alpha": [(0.8, 0.90, 0.10, 0.020, 2.0), (NAN, 0.80, 0.20, 0.030, 4.0), (0.6, 0.70, 0.30, 0.040, 6.0)],
    "beta": [(0.9, 0.95, 0.05, 0.010, 10.0), (0.7, 0.85, 0.15, 0.012, 12.0), (0.8, 0.75, 0.25, 0.014, 14.0)],
}


@pytest.fixture()
def run_dir(tmp_path):
    """Two rank parts (images split r::2), PNGs for the grid, one skipped image."""
    run = tmp_path / "run"
    stores = [ResultStore(run, 0), ResultStore(run, 1)]
    for method, rows in DATA.items():
        for i, (idv, ms, lp, mse, sec) in enumerate(rows):
            stores[i % 2].append(ResultRow(method, f"img{i}", metrics={"id_similarity": idv, "ms_ssim": ms, "lpips": lp, "mse": mse},
                                           stage_seconds={"pivot": sec / 2, "tune": sec / 2}, device="cpu test",
                                           config_json='{"steps": 1}'))
            img_dir = run / "images" / method
            img_dir.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (40 * i, 100, 0)).save(img_dir / f"img{i}.png")
            Image.new("RGB", (32, 32), (0, 0, 40 * i)).save(img_dir / f"img{i}@smile.png")
        stores[1].append(ResultRow(method, "img_bad", status="skipped", error="img_bad.png: corrupt image"))
    (run / "images" / "_target").mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (255, 255, 255)).save(run / "images" / "_target" / f"img{i}.png")
    stores[0].set_meta("unavailable:lpips_vgg", "lpips-vgg16 weights are not in the cache")
    for s in stores:
        s.close()
    return run


def test_summary_statistics_match_numpy_and_scipy(run_dir, tmp_path):
    rep = build_report([run_dir], tmp_path / "rep")
    s = rep.summary.set_index(["method", "metric"])
    for method, rows in DATA.items():
        for col, name in enumerate(["id_similarity", "ms_ssim", "lpips", "mse"]):
            vals = np.array([r[col] for r in rows if not math.isnan(r[col])])
            row = s.loc[(method, name)]
            assert row["n"] == len(vals) and row["images"] == 3
            assert row["mean"] == pytest.approx(vals.mean())
            assert row["std"] == pytest.approx(vals.std(ddof=1))
            assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, len(vals) - 1) * vals.std(ddof=1) / math.sqrt(len(vals)),
                                                rel=1e-4)  # t quantile from a 3-decimal table
        assert s.loc[(method, "time"), "mean"] == pytest.approx(np.mean([r[4] for r in rows]))
    assert s.loc[("alpha", "id_similarity"), "missing"] == 1


def test_table1_layout_bold_is_direction_aware(run_dir, tmp_path):
    rep = build_report([run_dir], tmp_path / "rep")
    assert list(rep.table1.columns) == ["ID", "MS-SSIM", "LPIPS", "L2", "Time (s)"]
    assert rep.table1.loc["beta", "L2"] == pytest.approx(0.012)
    md = (tmp_path / "rep" / "table1.md").read_text().splitlines()
    assert md[0] == "| method | ID | MS-SSIM | LPIPS | L2 | Time (s) |"
    alpha = md[2].split(" | ")
    beta = md[3].split(" | ")
    # alpha: ID 0.7 (1 of 3 without a face) vs beta 0.8 -> beta bold (higher is better)
    assert alpha[1] == "0.700 (1 of 3 without a face)" and beta[1] == "**0.800**"
    assert alpha[2] == "0.800" and beta[2] == "**0.850**"
    assert alpha[3] == "0.200" and beta[3] == "**0.150**"  # lower LPIPS is better
    assert alpha[5].rstrip(" |") == "**4**" and beta[4] == "**0.0120**"  # time and L2 lower
    tex = (tmp_path / "rep" / "table1.tex").read_text()
    assert r"\textbf{0.0120}" in tex and r"\textbf{4}" in tex and "\\toprule" in tex
    assert "0.700 (1 of 3 without a face)" in tex
    csv = pd.read_csv(tmp_path / "rep" / "table1.csv", index_col=0)
    assert csv.loc["alpha", "ID"] == pytest.approx(0.7)


def test_html_is_self_contained_with_grids_plots_and_reasons(run_dir, tmp_path):
    rep = build_report([run_dir], tmp_path / "rep")
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "data:image/png;base64," in page and page.count("<svg") >= 5
    assert not re.search(r'(src|href)="(http|//|[^d#][^a])', page)  # nothing fetched from outside
    assert "lpips-vgg16 weights are not in the cache" in page
    assert "img_bad.png: corrupt image" in page
    assert "cpu test" in page
    grid = Image.open(rep.files["grid.png"])
    cell = 128  # 32 px images enlarged 4x (nearest neighbour)
    header = grid.size[1] - 3 * cell
    label_w = grid.size[0] - 3 * cell  # target + 2 methods, after the image-id column
    assert 10 <= header <= 40 and 10 <= label_w <= ROW_LABEL_W
    pixels = np.asarray(grid)
    assert pixels[header + 5, label_w + 5].tolist() == [255, 255, 255]  # first column = target
    # nearest-neighbour enlargement: method alpha's image 1 is one flat colour (40, 100, 0), no blur at its edge
    assert pixels[header + cell + 1, label_w + cell + 1].tolist() == [40, 100, 0]
    # labels drawn into the image: dark pixels in the header above each column and left of each row
    for c in range(3):
        assert (pixels[:header, label_w + c * cell: label_w + (c + 1) * cell] < 100).any()
    assert (pixels[header: header + cell, :label_w] < 100).any()
    edits = Image.open(rep.files["grid_edits_alpha.png"])
    assert edits.size == (label_w + 3 * cell, header + 3 * cell)  # target, inversion, smile
    counts = pd.read_csv(tmp_path / "rep" / "counts.csv")
    assert counts.set_index("method").loc["alpha"].tolist() == [3, 0, 1]


def test_two_runs_with_the_same_method_are_labelled_by_run(run_dir, tmp_path):
    import shutil

    other = tmp_path / "run_b"
    shutil.copytree(run_dir, other)
    rep = build_report([run_dir, other], tmp_path / "rep")
    assert set(rep.table1.index) == {"run/alpha", "run/beta", "run_b/alpha", "run_b/beta"}


def test_markdown_and_latex_escape_and_bold():
    shown = pd.DataFrame({"A_1": ["0.5", "0.7"], "B": ["x|y", "50%"]}, index=pd.Index(["m_1", "m2"], name="method"))
    numeric = pd.DataFrame({"A_1": [0.5, 0.7], "B": [1.0, 2.0]}, index=shown.index)
    bold = best_mask(numeric, {"A_1": "higher", "B": "lower"})
    assert bold.values.tolist() == [[False, True], [True, False]]
    tie = pd.DataFrame({"L2": [0.1 + 0.2, 0.3, 0.4]})  # equal up to the last bit: both bold
    assert best_mask(tie, {"L2": "lower"})["L2"].tolist() == [True, True, False]
    md = to_markdown(shown, bold)
    assert "| m_1 | 0.5 | **x\\|y** |" in md
    tex = to_latex(shown, bold)
    assert r"m\_1 & 0.5 & \textbf{x|y} \\" in tex and r"50\%" in tex and r"A\_1" in tex


def test_box_stats_match_numpy_and_svg_has_every_point():
    vals = [0.1, 0.2, 0.25, 0.3, 0.9, 5.0]
    st = box_stats(vals)
    q1, med, q3 = np.percentile(vals, [25, 50, 75])
    assert (st["q1"], st["median"], st["q3"]) == pytest.approx((q1, med, q3))
    assert st["hi"] == 0.9 and st["lo"] == 0.1  # 5.0 is beyond 1.5 IQR
    svg = box_strip_svg({"a": vals, "b": [NAN, 1.0]}, "lpips")
    assert svg.count('class="pt"') == 7 and svg.count('class="box"') == 2
    assert "lower is better" in svg and svg.startswith("<svg")


def test_t_quantile_matches_scipy():
    from gani_bench.report import tables

    for n in (2, 3, 10, 31, 32, 60, 500):
        assert tables._t975(n) == pytest.approx(stats.t.ppf(0.975, n - 1), abs=1e-3)
    assert math.isnan(tables._t975(1))


def test_id_column_names_its_network_when_it_is_not_curricularface(tmp_path):
    """Only dlib scores present: Table 1 says so instead of passing them off as the protocol's ID."""
    run = tmp_path / "run"
    store = ResultStore(run, 0)
    for i, value in enumerate([0.9, 0.7]):
        store.append(ResultRow("alpha", f"img{i}", metrics={"id_similarity_dlib": value, "mse": 0.01 * (i + 1)},
                               stage_seconds={"tune": 1.0}, device="cpu test", config_json="{}"))
        store.append(ResultRow("beta", f"img{i}", metrics={"id_similarity_dlib": value - 0.1, "mse": 0.02},
                               stage_seconds={"tune": 1.0}, device="cpu test", config_json="{}"))
    rep = build_report([run], out=tmp_path / "rep")
    assert list(rep.table1.columns)[0] == "ID (dlib)"
    md = (tmp_path / "rep" / "table1.md").read_text().splitlines()
    assert md[0].startswith("| method | ID (dlib) |")
    assert "**0.800**" in md[2]  # alpha's mean 0.8 beats beta's 0.7 and is bold


def test_without_a_face_is_split_into_targets_and_reconstructions(tmp_path):
    """The ID metric's per-image flags say where the face was missing; Table 1 counts both."""
    run = tmp_path / "run"
    store = ResultStore(run, 0)
    # image 0: face in both; image 1: no face in the reconstruction; image 2: no face in either
    flags = [(0.9, 0.0, 0.0), (NAN, 0.0, 1.0), (NAN, 1.0, 1.0)]
    for i, (sim, no_t, no_r) in enumerate(flags):
        store.append(ResultRow("alpha", f"img{i}", metrics={"id_similarity": sim, "id_similarity/no_face_target": no_t,
                                                            "id_similarity/no_face_reconstruction": no_r, "mse": 0.01},
                               stage_seconds={"tune": 1.0}, device="cpu test", config_json="{}"))
    store.close()
    build_report([run], out=tmp_path / "rep")
    md = (tmp_path / "rep" / "table1.md").read_text().splitlines()
    assert md[2].split(" | ")[1] == "0.900 (of 3, no face in 1 target(s), 2 reconstruction(s))"
