"""Append-only, kill-safe result store: one SQLite file per rank inside the run directory.

Why SQLite: every row is committed the moment an image finishes, and SQLite's journal makes a
``SIGKILL`` at any instant leave either the whole row or none of it - a CSV being appended can be
cut mid-line. WAL mode lets the report (or another rank) read while a run writes, and
``synchronous=NORMAL`` is durable against a killed process (it only trades durability against a
power cut, which would lose at most the last few rows, and those are simply recomputed).

Why one file per rank: ranks never contend for a lock; the reader merges ``results.rank*.sqlite``.
Rows are never updated or deleted; a retried image appends a new row and readers keep the last
row per (method, image).
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set

import pandas as pd

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    image_id TEXT NOT NULL,
    status TEXT NOT NULL,            -- ok | failed | skipped
    error TEXT,
    metrics TEXT NOT NULL,           -- JSON {metric column: value or null}
    stage_seconds TEXT NOT NULL,     -- JSON {stage: seconds for this image}
    total_seconds REAL,
    metric_seconds REAL,
    harness_seconds REAL,
    steps TEXT NOT NULL,             -- JSON {stage: steps}
    config_hash TEXT,
    config_json TEXT,
    versions TEXT,                   -- JSON {package: version}
    device TEXT,
    git_commit TEXT,
    seed INTEGER,
    rank INTEGER,
    image_path TEXT,
    notes TEXT,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_method_image ON results(method, image_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

STORE_GLOB = "results.rank*.sqlite"


def store_path(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / f"results.rank{rank}.sqlite"


def _json(value: Any) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None  # NaN = "not computed" -> JSON null
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), sort_keys=True)


@dataclass
class ResultRow:
    method: str
    image_id: str
    status: str = "ok"
    error: Optional[str] = None
    metrics: Dict[str, Optional[float]] = field(default_factory=dict)
    stage_seconds: Dict[str, float] = field(default_factory=dict)
    metric_seconds: float = 0.0
    harness_seconds: float = 0.0
    steps: Dict[str, int] = field(default_factory=dict)
    config_hash: str = ""
    config_json: str = "{}"
    versions: Dict[str, str] = field(default_factory=dict)
    device: str = ""
    git_commit: Optional[str] = None
    seed: int = 0
    rank: int = 0
    image_path: Optional[str] = None
    notes: Optional[str] = None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)  # autocommit: one row = one txn
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class ResultStore:
    """This rank's append-only part of a run's results."""

    def __init__(self, run_dir: Path, rank: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.path = store_path(self.run_dir, rank)
        self._conn = _connect(self.path)
        self._conn.executescript(_SCHEMA)

    def append(self, row: ResultRow) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        self._conn.execute(
            "INSERT INTO results (method, image_id, status, error, metrics, stage_seconds, total_seconds,"
            " metric_seconds, harness_seconds, steps, config_hash, config_json, versions, device, git_commit,"
            " seed, rank, image_path, notes, timestamp) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                row.method, row.image_id, row.status, row.error, _json(row.metrics), _json(row.stage_seconds),
                float(sum(row.stage_seconds.values())), row.metric_seconds, row.harness_seconds, _json(row.steps),
                row.config_hash, row.config_json, _json(row.versions), row.device, row.git_commit, int(row.seed),
                self.rank, row.image_path, row.notes, now,
            ),
        )

    def set_meta(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, _json(value)))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def store_parts(run_dir: Path) -> List[Path]:
    return sorted(Path(run_dir).glob(STORE_GLOB))


def _read_part(path: Path, query: str, params: Iterable[Any] = ()) -> List[tuple]:
    conn = sqlite3.connect(str(path), timeout=60)
    try:
        return conn.execute(query, tuple(params)).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # a part created but killed before its schema: empty
            return []
        raise
    finally:
        conn.close()


def finished_images(run_dir: Path, method: str, *, retry_failed: bool = False) -> Set[str]:
    """Images of ``method`` that already have a row in any rank's part (the resume set)."""
    statuses = ("ok", "skipped") if retry_failed else ("ok", "skipped", "failed")
    marks = ",".join("?" * len(statuses))
    done: Set[str] = set()
    for part in store_parts(run_dir):
        rows = _read_part(part, f"SELECT image_id FROM results WHERE method = ? AND status IN ({marks})",
                          (method, *statuses))
        done.update(r[0] for r in rows)
    return done


def read_meta(run_dir: Path) -> Dict[str, Any]:
    meta: Dict[str, Any] = {}
    for part in store_parts(run_dir):
        for key, value in _read_part(part, "SELECT key, value FROM meta"):
            meta[key] = json.loads(value)
    return meta


_COLUMNS = ["method", "image_id", "status", "error", "metrics", "stage_seconds", "total_seconds",
            "metric_seconds", "harness_seconds", "steps", "config_hash", "config_json", "versions", "device",
            "git_commit", "seed", "rank", "image_path", "notes", "timestamp"]


def read_results(run_dir: Path, *, latest_only: bool = True) -> pd.DataFrame:
    """All rows of a run as a DataFrame, metrics expanded to ``metric:<name>`` columns and stage
    times to ``stage:<name>`` columns; with ``latest_only`` the last row per (method, image)."""
    records: List[Dict[str, Any]] = []
    for part in store_parts(run_dir):
        for values in _read_part(part, f"SELECT {', '.join(_COLUMNS)} FROM results ORDER BY id"):
            rec = dict(zip(_COLUMNS, values))
            for col in ("metrics", "stage_seconds", "steps", "versions"):
                rec[col] = json.loads(rec[col]) if rec[col] else {}
            for k, v in rec["metrics"].items():
                rec[f"metric:{k}"] = float("nan") if v is None else float(v)
            for k, v in rec["stage_seconds"].items():
                rec[f"stage:{k}"] = float(v)
            records.append(rec)
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=_COLUMNS)
    df["run_dir"] = str(run_dir)
    if latest_only and not df.empty:
        df = df.sort_values("timestamp", kind="stable").drop_duplicates(["method", "image_id"], keep="last")
        df = df.reset_index(drop=True)
    return df

