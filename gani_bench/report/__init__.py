"""Reports of one or more run directories: CSV/Markdown/LaTeX tables, an HTML page, grids, plots.

:func:`build_report` is what ``gani-bench report`` and the end of ``gani-bench run`` call.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

import pandas as pd

from ..errors import ConfigError
from ..interface import opt
from . import grids, html, plots, tables
from .paths import scrub

__all__ = ["Report", "build_report"]


@dataclass
class Report:
    out: Path
    #: long summary: method, metric, images, missing, n, mean, std, ci95, median, direction
    summary: pd.DataFrame
    #: Table 1 layout, numeric means (rows: methods; columns: ID, MS-SSIM, LPIPS, L2, Time (s))
    table1: pd.DataFrame
    files: Dict[str, Path] = field(default_factory=dict)


def _run_info(df: pd.DataFrame, run_dirs: Sequence[Path]) -> Dict[str, str]:
    info: Dict[str, str] = {"runs": ", ".join(Path(d).resolve().name for d in run_dirs)}
    for d in run_dirs:
        rec_path = Path(d) / "run.json"
        if rec_path.is_file():
            rec = json.loads(rec_path.read_text())
            for key in ("dataset", "generator", "preset", "seed", "resolution"):
                if key in rec:
                    info.setdefault(key, str(rec[key]))
    if not df.empty:
        info["device"] = ", ".join(sorted(set(map(str, df["device"].dropna()))))
        versions = df["versions"].dropna()
        if len(versions):
            info["versions"] = ", ".join(f"{k} {v}" for k, v in sorted(versions.iloc[-1].items()))
        commits = sorted(set(str(c) for c in df["git_commit"].dropna()))
        if commits:
            info["git commit"] = ", ".join(c[:12] for c in commits)
    return info


def build_report(run_dirs: Sequence[Path | str], out: Path | str = "reports", *, title: str = "gani-bench report",
                 grid_rows: int = 8) -> Report:
    """Merge the store parts of ``run_dirs`` and write every table, the HTML page and the grids."""
    run_dirs = [Path(d) for d in run_dirs]
    for d in run_dirs:
        if not d.is_dir():
            raise ConfigError(f"{d}: no such run directory; give the folder a gani-bench run wrote (its {opt('out')})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = tables.load_runs(run_dirs)
    summary = tables.summarize(df)
    numeric, shown = tables.table1(summary, df)
    bold = tables.best_mask(numeric, tables.TABLE1_DIRECTIONS)
    # name the identity network when it is not the protocol's (CurricularFace): numbers from
    # different networks are on different scales and must never be read as one column
    id_name = tables.id_metric(df)
    if id_name is not None and id_name != "id_similarity":
        header = f"ID ({id_name.removeprefix('id_similarity_')})"
        numeric, shown, bold = (t.rename(columns={"ID": header}) for t in (numeric, shown, bold))
    timing = tables.timing_table(df)
    counts = tables.status_counts(df)
    unavailable = tables.unavailable_metrics(run_dirs)

    files: Dict[str, Path] = {}

    def write(name: str, text: str, scrubbed: bool = False) -> None:
        """``scrubbed``: the caller cleaned the text parts already (the page: base64 must stay intact)."""
        path = out / name
        path.write_text(text if scrubbed else scrub(text, run_dirs))
        files[name] = path

    summary.to_csv(out / "summary.csv", index=False)
    files["summary.csv"] = out / "summary.csv"
    numeric.to_csv(out / "table1.csv")
    files["table1.csv"] = out / "table1.csv"
    write("table1.md", tables.to_markdown(shown, bold))
    write("table1.tex", tables.to_latex(shown, bold, caption="Inversion quality and time per image (gani-bench)"))
    display = tables.summary_display(summary)
    sections = tables.metric_sections(display)
    md_parts = [f"## {title}\n\n{tables.to_markdown(sections[key])}" for key, title in
                [("headline", "Reconstruction metrics")] + tables.FAMILIES if key in sections]
    write("metrics.md", "\n".join(md_parts) if md_parts else "(no results)\n")
    timing.to_csv(out / "timing.csv", index=False)
    files["timing.csv"] = out / "timing.csv"
    write("timing.md", tables.to_markdown(timing.set_index("method") if not timing.empty else timing))
    counts.to_csv(out / "counts.csv", index=False)
    files["counts.csv"] = out / "counts.csv"

    # plots: one distribution per metric + time vs quality
    ok = df[df["status"] == "ok"] if not df.empty else df
    svgs: List[str] = []
    for name in tables.metric_names(df):
        if "/" in name and not name.endswith("/mean"):
            continue  # per-edit columns: their /mean has the distribution; the tables have each edit
        groups = {m: list(g[f"metric:{name}"].astype(float)) for m, g in ok.groupby("method", sort=False)}
        if any(pd.notna(v) for vals in groups.values() for v in vals):
            svgs.append(plots.box_strip_svg(groups, name, tables.metric_direction(name)))
    qname = plots.quality_metric(tables.metric_names(df))
    if qname is not None and not summary.empty:
        pts = {}
        for m in dict.fromkeys(summary["method"]):
            t = summary[(summary["method"] == m) & (summary["metric"] == tables.TIME)]
            q = summary[(summary["method"] == m) & (summary["metric"] == qname)]
            if not t.empty and not q.empty:
                pts[m] = (float(t.iloc[0]["mean"]), float(q.iloc[0]["mean"]))
        if len(pts) >= 2:  # one point compares nothing
            svgs.append(plots.scatter_svg(pts, "seconds per image", qname, f"time vs {qname}"))
    for i, svg in enumerate(svgs):
        write(f"plot{i}.svg", svg)

    # grids
    recon_item = None
    edit_items = []
    method_dirs: Dict[str, Path] = {}
    for label, g in ok.groupby("method", sort=False):
        raw = str(label).split("/")[-1]
        method_dirs[str(label)] = Path(g["run_dir"].iloc[0]) / "images" / raw
    ids = grids.grid_image_ids(list(dict.fromkeys(ok["image_id"])) if not ok.empty else [], grid_rows)
    recon = grids.reconstruction_grid(method_dirs, ids)
    if recon is not None:
        grids.save(recon, out / "grid.png")
        files["grid.png"] = out / "grid.png"
        recon_item = ("Targets and reconstructions", recon, ids)
    for label, mdir in method_dirs.items():
        names = grids.edits_in(mdir)
        edit_ids = [i for i in ids if any((mdir / f"{i}@{e}.png").is_file() for e in names)]
        eg = grids.edit_grid(mdir, edit_ids, names)
        if eg is not None:
            fname = f"grid_edits_{label.replace('/', '_')}.png"
            grids.save(eg, out / fname)
            files[fname] = out / fname
            edit_items.append((f"Edits through {label}", eg, edit_ids))

    def clean(text: object) -> str:
        return scrub(str(text), run_dirs)

    skipped = [(r.method, r.image_id, clean(r.error)) for r in df.itertuples() if r.status in ("skipped", "failed")] if not df.empty else []
    notices: Dict[str, str] = {}
    if not df.empty and "notes" in df:
        for r in df[df["notes"].notna()].itertuples():
            notices.setdefault(str(r.image_id), clean(r.notes))
    configs = {}
    if not df.empty:
        for m, g in df.groupby("method", sort=False):
            configs[str(m)] = clean(g["config_json"].iloc[-1])
    page = html.render_page(title=title, run_info={k: clean(v) for k, v in _run_info(df, run_dirs).items()},
                            table1=shown, table1_bold=bold, metric_tables=sections, timing=timing, counts=counts,
                            unavailable={k: clean(v) for k, v in unavailable.items()}, skipped=skipped, notices=notices,
                            plots=svgs, recon_grid=recon_item, edit_grids=edit_items, configs=configs)
    write("report.html", page, scrubbed=True)
    return Report(out=out, summary=summary, table1=numeric, files=files)
