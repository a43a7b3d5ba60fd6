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
.note{color:#555;font-size:90%}.plots{display:flex;flex-wrap:wrap;gap:12px}img.grid{image-rendering:pixelated;max-width:100%}
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
    out = ["<table>", "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr>"]
    for idx, row in df.iterrows():
        cells = [f"<td>{_esc(idx)}</td>"] if index else []
        for c in df.columns:
            value = row[c]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            cls = ' class="best"' if bold is not None and bool(bold.loc[idx, c]) else ""
            cells.append(f"<td{cls}>{_esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_page(*, title: str, run_info: Dict[str, str], table1: pd.DataFrame, table1_bold: pd.DataFrame,
                summary: pd.DataFrame, timing: pd.DataFrame, counts: pd.DataFrame, unavailable: Dict[str, str],
                skipped: List[Tuple[str, str, str]], plots: Sequence[str], grids: Sequence[Tuple[str, Image.Image, Sequence[str]]],
                configs: Dict[str, str]) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_esc(title)}</h1>", "<table>"]
    parts += [f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in run_info.items()]
    parts.append("</table>")
    parts += ["<h2>Table 1 layout (HyperStyle)</h2>",
              '<p class="note">Means over the images of each method; best per column in bold (ID, MS-SSIM higher; '
              "LPIPS, L2, time lower). L2 = MSE on [-1,1] at 256 px; time = method wall seconds per image.</p>",
              table_html(table1, table1_bold)]
    parts += ["<h2>Images per method</h2>", table_html(counts.set_index("method") if not counts.empty else counts)]
    if unavailable:
        parts.append("<h3>Metrics not computed</h3><ul>" +
                     "".join(f"<li><b>{_esc(k)}</b>: {_esc(v)}</li>" for k, v in unavailable.items()) + "</ul>")
    if skipped:
        parts.append("<h3>Skipped or failed images</h3><ul>" +
                     "".join(f"<li>{_esc(m)} / {_esc(i)}: {_esc(r)}</li>" for m, i, r in skipped[:200]) + "</ul>")
    parts += ["<h2>All metrics (mean ± 95% CI, sd)</h2>", table_html(summary)]
    parts += ["<h2>Time per image and stage</h2>", table_html(timing, index=False)]
    parts += ["<h2>Distributions</h2>", '<div class="plots">'] + list(plots) + ["</div>"]
    for caption, img, ids in grids:
        parts += [f"<h2>{_esc(caption)}</h2>", f'<img class="grid" alt="{_esc(caption)}" src="{png_data_uri(img)}">',
                  f'<p class="note">rows: {_esc(", ".join(ids))}</p>']
    parts.append("<h2>Method configs</h2>")
    for m, cfg in configs.items():
        try:
            pretty = json.dumps(json.loads(cfg), indent=1, sort_keys=True)
        except (TypeError, ValueError):
            pretty = str(cfg)
        parts.append(f"<h3>{_esc(m)}</h3><pre>{_esc(pretty)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
