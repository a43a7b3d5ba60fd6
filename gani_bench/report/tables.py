"""Result tables: per-method statistics and the HyperStyle Table 1 layout, as CSV/Markdown/LaTeX.

Input is the merged result store of one or more run directories. Statistics use the images
whose metric value exists (NaN = "not computed", e.g. no face found for the ID metric); those
are counted and shown, never silently averaged as zeros. The 95% confidence interval is the
Student-t interval of the mean, ``t(0.975, n-1) * std / sqrt(n)``, std being the sample
standard deviation (ddof=1).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ..harness.store import read_meta, read_results

#: the HyperStyle paper's Table 1 columns: (header, metric column or "time", direction, format)
TABLE1_COLUMNS: List[Tuple[str, str, str, str]] = [
    ("ID", "id", "higher", "{:.3f}"),
    ("MS-SSIM", "ms_ssim", "higher", "{:.3f}"),
    ("LPIPS", "lpips", "lower", "{:.3f}"),
    ("L2", "mse", "lower", "{:.4f}"),
    ("Time (s)", "time", "lower", "{:.3g}"),
]
TIME = "time"


def load_runs(run_dirs: Sequence[Path | str]) -> pd.DataFrame:
    """Rows of all runs (all rank parts merged, last row per method and image).

    When two runs hold the same method name, the method is labelled ``<run dir>/<method>``.
    """
    frames = [read_results(Path(d)) for d in run_dirs]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["method", "image_id", "status", "run_dir"])
    df = pd.concat(frames, ignore_index=True, sort=False)
    clash = df.groupby("method")["run_dir"].nunique()
    clashing = set(clash[clash > 1].index)
    if clashing:
        df["method"] = [f"{Path(r).name}/{m}" if m in clashing else m for m, r in zip(df["method"], df["run_dir"])]
    return df


def metric_names(df: pd.DataFrame) -> List[str]:
    return [c.split(":", 1)[1] for c in df.columns if c.startswith("metric:")]


def metric_direction(name: str) -> str:
    """'lower' or 'higher' from the metric's registered class (edit columns use their prefix)."""
    from ..metrics.base import METRICS
    from ..plugins import load_plugins

    load_plugins()
    if name == TIME:
        return "lower"
    for candidate in (name, name.split("/")[0], name.split("@")[0]):
        if candidate in METRICS:
            return getattr(METRICS.get(candidate), "direction", "lower")
    if name.startswith(("id", "psnr", "ms_ssim", "ssim")):
        return "higher"
    return "lower"


#: Student-t 97.5% quantiles for 1..30 degrees of freedom (standard tables), used without SciPy
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def _t975(n: int) -> float:
    """97.5% quantile of Student's t with n-1 degrees of freedom: the standard table up to 30,
    the Cornish-Fisher expansion beyond (within 1e-4 there). Not SciPy: importing scipy.stats
    costs seconds, more than a whole report."""
    if n < 2:
        return float("nan")
    df = n - 1
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _stats(values: pd.Series) -> Dict[str, float]:
    v = values.dropna().astype(float)
    n = int(v.size)
    mean = float(v.mean()) if n else float("nan")
    std = float(v.std(ddof=1)) if n > 1 else float("nan")
    ci = _t975(n) * std / math.sqrt(n) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "std": std, "ci95": ci, "median": float(v.median()) if n else float("nan")}


def status_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: ok / failed / skipped image counts."""
    if df.empty:
        return pd.DataFrame(columns=["method", "ok", "failed", "skipped"])
    counts = df.groupby(["method", "status"], sort=False).size().unstack(fill_value=0)
    for col in ("ok", "failed", "skipped"):
        if col not in counts:
            counts[col] = 0
    return counts[["ok", "failed", "skipped"]].reset_index()


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (method, metric) with n, missing, mean, std, ci95, median, direction."""
    rows = []
    ok = df[df["status"] == "ok"] if not df.empty else df
    for method, group in ok.groupby("method", sort=False):
        for name in metric_names(df) + [TIME]:
            col = "total_seconds" if name == TIME else f"metric:{name}"
            if col not in group:
                continue
            s = _stats(group[col])
            rows.append({"method": method, "metric": name, "images": int(len(group)),
                         "missing": int(len(group) - s["n"]), **s, "direction": metric_direction(name)})
    return pd.DataFrame(rows, columns=["method", "metric", "images", "missing", "n", "mean", "std", "ci95",
                                       "median", "direction"])


def id_metric(df: pd.DataFrame) -> Optional[str]:
    """The identity-similarity column used for Table 1's ID (first metric named ``id*``)."""
    names = [n for n in metric_names(df) if n.startswith("id") and "/" not in n]
    return sorted(names)[0] if names else None


def _without_face(summary: pd.DataFrame, method: str, id_name: str, row: pd.Series) -> str:
    """"2 of 50 without a face", split into targets and reconstructions where the run recorded it."""
    images = int(row["images"])

    def count(sub: str) -> Optional[int]:
        hit = summary[(summary["method"] == method) & (summary["metric"] == f"{id_name}/{sub}")]
        if hit.empty or hit.iloc[0]["n"] == 0:
            return None
        return int(round(float(hit.iloc[0]["mean"]) * int(hit.iloc[0]["n"])))

    in_target, in_recon = count("no_face_target"), count("no_face_reconstruction")
    if in_target is None or in_recon is None:
        return f"{int(row['missing'])} of {images} without a face"
    return f"of {images}, no face in {in_target} target(s), {in_recon} reconstruction(s)"


def table1(summary: pd.DataFrame, df: pd.DataFrame) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """HyperStyle Table 1 layout. Returns (numeric means, display strings with skip notes)."""
    methods = list(dict.fromkeys(summary["method"])) if not summary.empty else []
    idm = id_metric(df)
    numeric = pd.DataFrame(index=methods, columns=[c[0] for c in TABLE1_COLUMNS], dtype=float)
    shown = pd.DataFrame(index=methods, columns=[c[0] for c in TABLE1_COLUMNS], dtype=object)
    for header, key, _direction, fmt in TABLE1_COLUMNS:
        name = idm if key == "id" else key
        for m in methods:
            hit = summary[(summary["method"] == m) & (summary["metric"] == name)] if name else summary.iloc[0:0]
            if hit.empty or hit.iloc[0]["n"] == 0:
                numeric.loc[m, header] = float("nan")
                shown.loc[m, header] = "n/a"
                if key == "id" and not hit.empty:
                    shown.loc[m, header] = f"n/a ({_without_face(summary, m, name, hit.iloc[0])})"
                continue
            r = hit.iloc[0]
            numeric.loc[m, header] = r["mean"]
            text = fmt.format(r["mean"])
            if key == "id" and r["missing"]:
                text += f" ({_without_face(summary, m, name, r)})"
            shown.loc[m, header] = text
    numeric.index.name = shown.index.name = "method"
    return numeric, shown


def best_mask(numeric: pd.DataFrame, directions: Dict[str, str]) -> pd.DataFrame:
    """True where a cell holds its column's best value (direction-aware; ties all bold)."""
    mask = pd.DataFrame(False, index=numeric.index, columns=numeric.columns)
    for col in numeric.columns:
        vals = numeric[col].astype(float)
        if vals.notna().sum() < 2:
            continue  # one method alone is not "best" of anything
        best = vals.max() if directions.get(col, "lower") == "higher" else vals.min()
        # ties within float noise are ties (means of equal sums differ in the last bit)
        mask[col] = ((vals - best).abs() <= 1e-9 * max(1.0, abs(best))).fillna(False)
    return mask


TABLE1_DIRECTIONS = {c[0]: c[2] for c in TABLE1_COLUMNS}


# ------------------------------------------------------------------------------- writers
def _cell_text(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def to_markdown(shown: pd.DataFrame, bold: Optional[pd.DataFrame] = None) -> str:
    """GitHub-flavoured Markdown (no tabulate dependency); bold cells as ``**x**``."""
    cols = [shown.index.name or ""] + [str(c) for c in shown.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * len(shown.columns)) + "|"]
    for idx, row in shown.iterrows():
        cells = []
        for c in shown.columns:
            text = _cell_text(row[c])
            if bold is not None and bool(bold.loc[idx, c]):
                text = f"**{text}**"
            cells.append(text.replace("|", "\\|"))
        lines.append("| " + " | ".join([str(idx)] + cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(shown: pd.DataFrame, bold: Optional[pd.DataFrame] = None, caption: str = "") -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); best cells in ``\\textbf``."""
    spec = "l" + "r" * len(shown.columns)
    out = ["\\begin{table}[t]", "\\centering", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
           " & ".join([latex_escape(shown.index.name or "Method")] + [latex_escape(c) for c in shown.columns]) + " \\\\",
           "\\midrule"]
    for idx, row in shown.iterrows():
        cells = []
        for c in shown.columns:
            text = latex_escape(_cell_text(row[c]))
            if bold is not None and bool(bold.loc[idx, c]):
                text = f"\\textbf{{{text}}}"
            cells.append(text)
        out.append(" & ".join([latex_escape(idx)] + cells) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    if caption:
        out.append(f"\\caption{{{latex_escape(caption)}}}")
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


def timing_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per method and stage: mean and median seconds per image, with the device they ran on."""
    ok = df[df["status"] == "ok"] if not df.empty else df
    rows = []
    for method, group in ok.groupby("method", sort=False):
        stages = [c for c in group.columns if c.startswith("stage:") and group[c].notna().any()]
        for col in stages + ["total_seconds", "metric_seconds", "harness_seconds"]:
            v = group[col].dropna().astype(float)
            if v.empty:
                continue
            label = col.split(":", 1)[1] if col.startswith("stage:") else {"total_seconds": "method total",
                                                                              "metric_seconds": "metrics",
                                                                              "harness_seconds": "harness"}[col]
            rows.append({"method": method, "stage": label, "mean_s": float(v.mean()), "median_s": float(v.median()),
                         "images": int(v.size), "device": ", ".join(sorted(set(map(str, group["device"]))))})
    return pd.DataFrame(rows, columns=["method", "stage", "mean_s", "median_s", "images", "device"])


def summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """The long summary as strings ``mean ± ci95 (std)`` per method x metric, for Markdown/HTML."""
    if summary.empty:
        return pd.DataFrame()
    cells = summary.assign(text=[
        "n/a" if r.n == 0 else (f"{r.mean:.4g} ± {r.ci95:.2g} (sd {r.std:.2g})" if r.n > 1 else f"{r.mean:.4g}")
        for r in summary.itertuples()])
    wide = cells.pivot(index="method", columns="metric", values="text")
    order = list(dict.fromkeys(summary["metric"]))
    wide = wide[[c for c in order if c in wide.columns]].fillna("n/a")
    wide.index.name = "method"
    return wide.loc[list(dict.fromkeys(summary["method"]))]


def unavailable_metrics(run_dirs: Sequence[Path | str]) -> Dict[str, str]:
    """Metrics some finished image still lacks, with the reason a run recorded.

    The store is the truth: a reason recorded by an earlier invocation is dropped once every
    ``ok`` row has the column (a resume filled it), so the report never lists a computed metric.
    """
    out: Dict[str, str] = {}
    for d in run_dirs:
        meta = read_meta(Path(d))
        # computed for some methods only (LEC needs an encoder): the run recorded which and why
        for key, value in meta.items():
            if key.startswith("partial:"):
                out.setdefault(key.split(":", 1)[1], str(value))
        reasons = {k.split(":", 1)[1]: str(v) for k, v in meta.items() if k.startswith("unavailable:")}
        if not reasons:
            continue
        rows = read_results(Path(d))
        ok = rows[rows["status"] == "ok"] if not rows.empty else rows
        for name, reason in reasons.items():
            if ok.empty or any(name not in m for m in ok["metrics"]):
                out.setdefault(name, reason)
    return out


# ------------------------------------------------------------------------------- metric sections
#: the headline image metrics in the order the papers print them (HyperStyle Table 1 / SPEC:
#: L2, then PSNR, LPIPS, MS-SSIM, ID), with the header each gets on the page
HEADLINE: List[Tuple[str, str]] = [
    ("mse", "L2 (MSE)"), ("psnr", "PSNR (dB)"), ("lpips", "LPIPS (alex)"), ("lpips_vgg", "LPIPS (vgg)"),
    ("ms_ssim", "MS-SSIM"), ("id_similarity", "ID (CurricularFace)"), ("id_similarity_arcface", "ID (ArcFace)"),
    ("id_similarity_facenet", "ID (FaceNet)"), ("id_similarity_dlib", "ID (dlib)"),
]
#: report sections of the metrics other than the headline ones: (id, title, does this metric belong)
FAMILIES: List[Tuple[str, str]] = [("edit", "Edit fidelity"), ("locality", "Locality"), ("other", "Other metrics")]


def metric_family(name: str) -> str:
    """``headline``, ``edit``, ``locality`` or ``other`` for a metric column name (``base/sub``)."""
    base = name.split("/")[0]
    if base == TIME:
        return "time"
    if base in dict(HEADLINE):
        return "headline"
    if base.startswith("locality"):
        return "locality"
    if base.startswith(("edit_", "lec")):
        return "edit"
    return "other"


def metric_sections(display: pd.DataFrame) -> Dict[str, pd.DataFrame]:
    """Split the wide ``mean ± ci95 (sd)`` table into the report's metric sections.

    ``headline``: rows = methods, columns in the papers' order. The edit, locality and other
    families have many columns (metric x edit), so they are transposed: rows = ``metric/edit``,
    columns = methods, which stays readable however many edits there are.
    """
    out: Dict[str, pd.DataFrame] = {}
    if display.empty:
        return out
    cols = list(display.columns)
    headers = dict(HEADLINE)
    head = [c for c, _ in HEADLINE if c in cols]
    if head:
        out["headline"] = display[head].rename(columns=headers)
    for family, _title in FAMILIES:
        chosen = [c for c in cols if metric_family(c) == family]
        if chosen:
            t = display[chosen].T
            t.index.name = "metric"
            # rows with no value for any method say nothing per cell: the page names them once
            empty = (t == "n/a").all(axis=1)
            if empty.all():
                continue
            t = t[~empty]
            t.attrs["all_missing"] = [str(i) for i in empty[empty].index]
            out[family] = t
    return out
