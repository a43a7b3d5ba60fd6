"""A single self-contained HTML page: tables, inline SVG plots and base64 PNG grids.

Self-contained (no external CSS, scripts or image files) so the page can be mailed, attached to
a CI run or opened years later and still show everything.
"""
from __future__ import annotations

import base64
import html
import io
import json
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd
from PIL import Image

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}td.best{font-weight:bold;background:#eef7ee}
.note{color:#555;font-size:90%}.plots{display:flex;flex-wrap:wrap;gap:12px}img.grid{image-rendering:pixelated}
.wide{overflow-x:auto;max-width:100%}td{white-space:nowrap}
nav{margin:4px 0 12px;font-size:90%}figure{margin:8px 0 20px}summary{cursor:pointer;margin:6px 0}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:85%}
"""


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def png_data_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def table_html(df: pd.DataFrame, bold: Optional[pd.DataFrame] = None, index: bool = True) -> str:
    if df is None or df.empty:
        return '<p class="note">(no rows)</p>'
    head = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    # wide tables (one column per method) scroll sideways instead of wrapping every cell
    out = ['<div class="wide"><table>', "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr>"]
    for idx, row in df.iterrows():
        cells = [f"<td>{_esc(idx)}</td>"] if index else []
        for c in df.columns:
            value = row[c]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            cls = ' class="best"' if bold is not None and bool(bold.loc[idx, c]) else ""
            cells.append(f"<td{cls}>{_esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


#: (section id, heading) in page order; the test of the page checks this order in the browser's DOM
SECTIONS: List[Tuple[str, str]] = [
    ("table1", "Table 1 (HyperStyle layout)"),
    ("grid", "Targets and reconstructions"),
    ("headline", "Reconstruction metrics"),
    ("edit", "Edit fidelity"),
    ("locality", "Locality"),
    ("other", "Other metrics"),
    ("edit-grids", "Edits"),
    ("timing", "Time per image and stage"),
    ("plots", "Distributions"),
    ("images", "Images per method"),
    ("configs", "Method configs"),
    ("run", "Run"),
]

_NOTES = {
    "table1": "Means over the images of each method; best per column in bold (ID, MS-SSIM higher; LPIPS, L2, "
              "time lower). L2 = MSE on [-1,1] at 256 px; time = method wall seconds per image.",
    "headline": "Mean ± 95% CI (sd) per image, in the papers' column order: L2, PSNR, LPIPS, MS-SSIM, ID.",
    "edit": "Per metric and edit (rows), per method (columns); <code>/mean</code> is the per-image mean over edits.",
    "locality": "Tuned vs original generator away from the pivot: <code>interp</code> = PTI's interpolated latents, "
                "<code>random</code> = random latents. 0 = untouched.",
}


def _grid_html(caption: str, img: Image.Image, ids: Sequence[str]) -> str:
    # the caption first (a reader learns which method a grid is before scrolling through it); the
    # grid at its own size (pixel-exact labels and thumbnails: scaling a labelled grid down garbles
    # the text), scrolling sideways when wider than the page
    return (f'<figure><figcaption class="note">{_esc(caption)}; rows: {_esc(", ".join(ids))}</figcaption>'
            f'<div class="wide"><img class="grid" alt="{_esc(caption)}" width="{img.size[0]}" '
            f'height="{img.size[1]}" src="{png_data_uri(img)}"></div></figure>')


def _edit_grids_html(grids: Sequence[Tuple[str, Image.Image, Sequence[str]]]) -> str:
    """One folding block per method (the first open): with many methods the edit grids would
    otherwise make the page several screens long per method."""
    return "".join(f'<details{" open" if i == 0 else ""}><summary>{_esc(caption)}</summary>{_grid_html(caption, img, ids)}</details>'
                   for i, (caption, img, ids) in enumerate(grids))


def render_page(*, title: str, run_info: Dict[str, str], table1: pd.DataFrame, table1_bold: pd.DataFrame,
                metric_tables: Dict[str, pd.DataFrame], timing: pd.DataFrame, counts: pd.DataFrame,
                unavailable: Dict[str, str], skipped: List[Tuple[str, str, str]], notices: Dict[str, str],
                plots: Sequence[str], recon_grid: Optional[Tuple[str, Image.Image, Sequence[str]]],
                edit_grids: Sequence[Tuple[str, Image.Image, Sequence[str]]], configs: Dict[str, str]) -> str:
    """The page, leading with what a reader of an inversion paper looks for first: Table 1 and
    the reconstruction grid; then the metrics by family; bookkeeping last. Every text argument
    must already be free of absolute paths (see :mod:`gani_bench.report.paths`)."""
    short = ", ".join(f"{k} {run_info[k]}" for k in ("dataset", "generator", "preset", "seed") if k in run_info)
    body: Dict[str, str] = {}
    body["table1"] = f'<p class="note">{_NOTES["table1"]}</p>' + table_html(table1, table1_bold)
    if recon_grid is not None:
        body["grid"] = _grid_html(*recon_grid)
    for key in ("headline", "edit", "locality", "other"):
        if key in metric_tables:
            note = f'<p class="note">{_NOTES[key]}</p>' if key in _NOTES else ""
            missing = metric_tables[key].attrs.get("all_missing") or []
            gone = (f'<p class="note">No value for any method (the metric was not computed, or had nothing to score, e.g. no face): '
                    f'{_esc(", ".join(missing))}</p>') if missing else ""
            body[key] = note + table_html(metric_tables[key]) + gone
    if edit_grids:
        body["edit-grids"] = _edit_grids_html(edit_grids)
    if not timing.empty:
        body["timing"] = table_html(timing, index=False)
    if plots:
        body["plots"] = '<div class="plots">' + "".join(plots) + "</div>"
    images = [table_html(counts.set_index("method") if not counts.empty else counts)]
    if unavailable:
        images.append("<h3>Metrics not computed</h3><ul>" +
                      "".join(f"<li><b>{_esc(k)}</b>: {_esc(v)}</li>" for k, v in unavailable.items()) + "</ul>")
    if skipped:
        images.append("<h3>Skipped or failed images</h3><ul>" +
                      "".join(f"<li>{_esc(m)} / {_esc(i)}: {_esc(r)}</li>" for m, i, r in skipped[:200]) + "</ul>")
    if notices:
        images.append("<h3>Images adjusted on load</h3><ul>" +
                      "".join(f"<li>{_esc(i)}: {_esc(n)}</li>" for i, n in notices.items()) + "</ul>")
    body["images"] = "".join(images)
    cfg_parts = []
    for m, cfg in configs.items():
        try:
            pretty = json.dumps(json.loads(cfg), indent=1, sort_keys=True)
        except (TypeError, ValueError):
            pretty = str(cfg)
        cfg_parts.append(f"<h3>{_esc(m)}</h3><pre>{_esc(pretty)}</pre>")
    body["configs"] = "".join(cfg_parts)
    body["run"] = "<table>" + "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in run_info.items()) + "</table>"

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_esc(title)}</h1>", f'<p class="note">{_esc(short)}</p>']
    present = [(sid, heading) for sid, heading in SECTIONS if sid in body]
    parts.append("<nav>" + " · ".join(f'<a href="#{sid}">{_esc(h)}</a>' for sid, h in present) + "</nav>")
    for sid, heading in present:
        parts.append(f'<section id="{sid}"><h2>{_esc(heading)}</h2>{body[sid]}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)
