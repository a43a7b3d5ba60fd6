"""JUnit XML for ``gani-bench check --junit-xml FILE``: one test case per (method, metric).

CI systems (GitHub Actions test reporters, GitLab, Jenkins) read this format and show which
method/metric regressed without anyone opening the log. REGRESSION and MISSING are failures,
NOT COMPARED (weights absent here) is skipped, ok and IMPROVED pass.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd


def _num(v: float) -> str:
    return f"{v:.6g}" if math.isfinite(v) else "nan"


def write_junit(rows: pd.DataFrame, path: Path, *, suite: str = "gani-bench check", seconds: float = 0.0) -> Path:
    """Write ``rows`` (``check.compare`` output) as one ``<testsuite>``; returns the path."""
    failures = int(rows["status"].isin(["REGRESSION", "MISSING"]).sum())
    skipped = int((rows["status"] == "NOT COMPARED").sum())
    root = ET.Element("testsuites", name=suite, tests=str(len(rows)), failures=str(failures))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(rows)), failures=str(failures), errors="0",
                       skipped=str(skipped), time=f"{seconds:.1f}")
    for r in rows.itertuples():
        case = ET.SubElement(ts, "testcase", classname=f"gani_bench.check.{r.method}", name=str(r.metric), time="0")
        detail = (f"{r.method} {r.metric} ({r.direction} is better): reference {_num(r.reference)}, current "
                  f"{_num(r.current)}, diff {_num(r.diff)}, tolerance {_num(r.tolerance)}: {r.status}")
        if r.status in ("REGRESSION", "MISSING"):
            ET.SubElement(case, "failure", message=detail, type=str(r.status)).text = detail
        elif r.status == "NOT COMPARED":
            ET.SubElement(case, "skipped", message=detail)
        ET.SubElement(case, "system-out").text = detail
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
