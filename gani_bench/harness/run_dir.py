"""The run directory: its default place, the ``run.json`` record that refuses mixing configs, and
clearing stored results (``--force`` and ``check``)."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping

from ..errors import ConfigError
from ..interface import flag, opt
from .store import store_parts

log = logging.getLogger("gani_bench.run")

RUN_FILE = "run.json"


def default_run_dir(dataset: str) -> Path:
    name = Path(dataset).name if Path(dataset).is_dir() else dataset
    return Path("runs") / name


def _describe_diff(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> List[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs.extend(_describe_diff(a, b, f"{prefix}{key}."))
        elif a != b:
            diffs.append(f"{prefix}{key}: {a} -> {b}")
    return diffs


def check_run_dir(run_dir: Path, record: Dict[str, Any], force: bool) -> None:
    """Refuse to mix results of different configs in one run directory (unless ``force``)."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    # compare in the form run.json stores: tuples in configs come back from JSON as lists
    record = json.loads(json.dumps(record, sort_keys=True, default=str))
    diffs = _describe_diff({k: old.get(k) for k in ("dataset", "dataset_fingerprint", "generator", "seed")},
                           {k: record.get(k) for k in ("dataset", "dataset_fingerprint", "generator", "seed")})
    for m, cfg in record["methods"].items():
        if m in old.get("methods", {}):
            diffs.extend(_describe_diff(old["methods"][m]["config"], cfg["config"], f"{m}."))
    if not diffs:
        return
    if not force:
        shown = "; ".join(diffs[:6]) + ("; ..." if len(diffs) > 6 else "")
        raise ConfigError(f"{run_dir} holds results of a different config ({shown}); "
                          f"use another {opt('out')}, or {flag('force')} to discard them")
    log.warning(f"{flag('force')}: discarding the results in %s (%s)", run_dir, "; ".join(diffs[:6]))
    for part in run_dir.glob("results.rank*.sqlite*"):
        part.unlink()
    for sub in ("images", "latents", "report"):
        shutil.rmtree(run_dir / sub, ignore_errors=True)
    path.unlink()


def write_run_record(run_dir: Path, record: Dict[str, Any]) -> None:
    """Merge this invocation's methods into ``run.json`` (atomic replace)."""
    path = run_dir / RUN_FILE
    merged = json.loads(path.read_text()) if path.is_file() else {}
    methods = dict(merged.get("methods", {}))
    methods.update(record["methods"])
    merged.update({k: v for k, v in record.items() if k != "methods"})
    merged["methods"] = methods
    tmp = path.with_name(RUN_FILE + ".part")
    tmp.write_text(json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def clear_results(run_dir: Path) -> None:
    """Delete a run's stored results (used by ``check``, which always starts clean)."""
    for part in store_parts(run_dir):
        part.unlink()
    for extra in Path(run_dir).glob("results.rank*.sqlite-*"):
        extra.unlink()
    for sub in ("images", "latents", "report"):
        shutil.rmtree(Path(run_dir) / sub, ignore_errors=True)
    (Path(run_dir) / RUN_FILE).unlink(missing_ok=True)
