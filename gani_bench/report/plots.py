"""Hand-written SVG plots (no matplotlib): metric distributions and time vs quality.

SVG text is small, diff-able, scales in any browser and embeds inline in the HTML report, and
writing the few primitives we need keeps a heavy plotting dependency out of the package.
"""
from __future__ import annotations

import html
import math
from typing import Dict, List, Optional, Sequence, Tuple

#: colour per method index (colour-blind-safe Okabe-Ito palette)
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _quantile(sorted_vals: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default 'linear' method)."""
    if not sorted_vals:
        return float("nan")
    pos = (len(sorted_vals) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def box_stats(values: Sequence[float]) -> Dict[str, float]:
    """Tukey box: quartiles, and whiskers at the furthest points within 1.5 IQR of the box."""
    v = sorted(x for x in values if x is not None and math.isfinite(x))
    if not v:
        return {}
    q1, med, q3 = _quantile(v, 0.25), _quantile(v, 0.5), _quantile(v, 0.75)
    iqr = q3 - q1
    lo = min(x for x in v if x >= q1 - 1.5 * iqr)
    hi = max(x for x in v if x <= q3 + 1.5 * iqr)
    return {"q1": q1, "median": med, "q3": q3, "lo": lo, "hi": hi, "min": v[0], "max": v[-1]}


def _nice_range(lo: float, hi: float) -> Tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.08
    return lo - pad, hi + pad


def _axis_ticks(lo: float, hi: float, n: int = 5) -> List[float]:
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def box_strip_svg(groups: Dict[str, Sequence[float]], title: str, direction: str = "lower",
                  width: int = 520, height: int = 260) -> str:
    """One box plot per method with every image's value drawn over it (deterministic jitter)."""
    names = list(groups)
    left, right, top, bottom = 64, 12, 28, 54
    finite = [x for vals in groups.values() for x in vals if x is not None and math.isfinite(x)]
    lo, hi = _nice_range(min(finite, default=0.0), max(finite, default=1.0))
    if finite and min(finite) >= 0:
        lo = max(lo, 0.0)  # non-negative data (MSE, LPIPS, ...) gets no negative axis
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    arrow = "lower is better" if direction == "lower" else "higher is better"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="sans-serif" font-size="11" role="img" aria-label="{_esc(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{_esc(title)} ({arrow})</text>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>']
    for t in _axis_ticks(lo, hi):
        parts.append(f'<line x1="{left - 4}" y1="{y(t):.1f}" x2="{left + plot_w}" y2="{y(t):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    slot = plot_w / max(1, len(names))
    for i, name in enumerate(names):
        cx = left + slot * (i + 0.5)
        colour = PALETTE[i % len(PALETTE)]
        vals = [x for x in groups[name] if x is not None and math.isfinite(x)]
        st = box_stats(vals)
        half = min(28.0, slot * 0.3)
        if st:
            parts.append(f'<line x1="{cx:.1f}" y1="{y(st["lo"]):.1f}" x2="{cx:.1f}" y2="{y(st["hi"]):.1f}" stroke="{colour}"/>')
            parts.append(f'<rect class="box" x="{cx - half:.1f}" y="{y(st["q3"]):.1f}" width="{2 * half:.1f}" '
                         f'height="{max(0.5, y(st["q1"]) - y(st["q3"])):.1f}" fill="{colour}" fill-opacity="0.25" stroke="{colour}"/>')
            parts.append(f'<line x1="{cx - half:.1f}" y1="{y(st["median"]):.1f}" x2="{cx + half:.1f}" y2="{y(st["median"]):.1f}" '
                         f'stroke="{colour}" stroke-width="2"/>')
        for j, v in enumerate(vals):
            jitter = ((j * 0.618034) % 1.0 - 0.5) * half * 1.4  # golden-ratio spread: no RNG, stable output
            parts.append(f'<circle class="pt" cx="{cx + jitter:.1f}" cy="{y(v):.1f}" r="2.2" fill="{colour}" fill-opacity="0.8">'
                         f'<title>{_esc(name)}: {_fmt(v)}</title></circle>')
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_esc(name)}</text>')
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 30}" text-anchor="middle" fill="#666">n={len(vals)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def scatter_svg(points: Dict[str, Tuple[float, float]], x_label: str, y_label: str, title: str,
                log_x: bool = True, width: int = 520, height: int = 300) -> str:
    """One labelled point per method, e.g. (seconds per image, LPIPS); log x for times spanning decades."""
    left, right, top, bottom = 64, 24, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    usable = {k: p for k, p in points.items() if all(math.isfinite(c) for c in p) and (not log_x or p[0] > 0)}

    def tx(v: float) -> float:
        return math.log10(v) if log_x else v

    xs = [tx(p[0]) for p in usable.values()]
    ys = [p[1] for p in usable.values()]
    x_lo, x_hi = _nice_range(min(xs, default=0.0), max(xs, default=1.0))
    y_lo, y_hi = _nice_range(min(ys, default=0.0), max(ys, default=1.0))
    if ys and min(ys) >= 0:
        y_lo = max(y_lo, 0.0)
    if not log_x and xs and min(xs) >= 0:
        x_lo = max(x_lo, 0.0)

    def px(v: float) -> float:
        return left + plot_w * (tx(v) - x_lo) / (x_hi - x_lo)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - y_lo) / (y_hi - y_lo))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="sans-serif" font-size="11" role="img" aria-label="{_esc(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{_esc(title)}</text>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
             f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">{_esc(x_label)}{" (log scale)" if log_x else ""}</text>',
             f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">{_esc(y_label)}</text>']
    for t in _axis_ticks(x_lo, x_hi):
        value = 10 ** t if log_x else t
        x = left + plot_w * (t - x_lo) / (x_hi - x_lo)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{_fmt(value)}</text>')
    for t in _axis_ticks(y_lo, y_hi):
        parts.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + plot_w}" y2="{py(t):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for i, (name, (xv, yv)) in enumerate(usable.items()):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<circle class="pt" cx="{px(xv):.1f}" cy="{py(yv):.1f}" r="5" fill="{colour}">'
                     f'<title>{_esc(name)}: {_fmt(xv)} s, {_fmt(yv)}</title></circle>')
        parts.append(f'<text x="{px(xv) + 8:.1f}" y="{py(yv) + 4:.1f}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def quality_metric(available: Sequence[str]) -> Optional[str]:
    """The y axis of the time/quality plot: LPIPS when present (the papers' headline), else MSE."""
    for name in ("lpips", "mse", "ms_ssim", "psnr"):
        if name in available:
            return name
    return available[0] if available else None
