"""What a run is asked to do: ``RunConfig`` / ``RunResult`` and the resolution of the method,
metric and ``--set`` selections into validated names and per-method overrides.

Kept apart from the loop so the CLI and the API can validate a request (and print one-line
errors) without building anything.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ..errors import ConfigError
from ..interface import is_cli, opt
from ..methods.base import METHODS
from ..metrics.base import METRICS
from .datasets import DEFAULT_DATASET

log = logging.getLogger("gani_bench.run")

#: env var naming extra plugin modules to import (comma-separated), e.g. a user's method file
#: default metrics of the ``fast`` preset (those registered): the papers' columns, identity, and
#: the cheaper edit metrics. The LPIPS-based edit/locality metrics and LPIPS-VGG cost 2-5 s per
#: image each on a CPU (measured on 2 shared cores), more than the fast methods themselves; the
#: ``paper`` preset and ``--metrics all`` compute every registered metric.
FAST_METRICS = ("mse", "psnr", "ms_ssim", "lpips", "id_similarity", "id_similarity_arcface", "id_similarity_facenet",
                "id_similarity_dlib", "edit_consistency_mse", "edit_id", "edit_id_arcface", "edit_id_facenet",
                "edit_id_dlib", "lec")


@dataclass
class RunConfig:
    """Everything ``gani-bench run`` takes (the CLI maps its options one-to-one onto this)."""

    methods: Union[str, Sequence[str]] = "all"
    dataset: str = DEFAULT_DATASET
    #: registered generator name, checkpoint path, or a Generator module (Python API); None = dataset's
    generator: Any = None
    #: None = ``fast`` for the demo dataset, ``paper`` otherwise
    preset: Optional[str] = None
    #: ``["key=value", "method.key=value"]`` or a mapping of the same
    overrides: Union[Mapping[str, Any], Sequence[str]] = ()
    limit: Optional[int] = None
    batch_size: int = 1
    device: str = "auto"
    seed: int = 0
    #: default ``runs/<dataset>`` so re-running the same command resumes
    out: Optional[Union[str, Path]] = None
    #: ``"default"`` (the generator's edits), ``"none"``, or a list of edit names
    edits: Union[str, Sequence[str], None] = "default"
    #: None = the preset's default (FAST_METRICS for fast, every registered metric for paper); ["all"] = every one
    metrics: Optional[Sequence[str]] = None
    root: Optional[Union[str, Path]] = None
    align: Optional[str] = None
    save_deltas: bool = False
    force: bool = False
    retry_failed: bool = False
    progress: bool = True
    report: bool = True
    #: where the run's report goes; default ``<run_dir>/report``
    report_out: Optional[Union[str, Path]] = None
    #: CPU threads for torch; None = what the machine offers (printed once)
    threads: Optional[int] = None


@dataclass
class RunResult:
    run_dir: Path
    #: per-method summary (pandas DataFrame) of this run, rank 0 only (None elsewhere)
    table: Any = None
    report_dir: Optional[Path] = None
    counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    unavailable_metrics: Dict[str, str] = field(default_factory=dict)
    #: Table 1 layout (pandas; rows = methods; ID, MS-SSIM, LPIPS, L2, Time (s)), rank 0 only;
    #: what to print (``table`` is the long per-method x metric summary)
    table1: Any = None


def validate_request(cfg: RunConfig) -> None:
    """Refuse numbers no run can use, before anything is built (one line, the user's vocabulary)."""
    if cfg.limit is not None and int(cfg.limit) < 1:
        raise ConfigError(f"{opt('limit', cfg.limit)}: must be at least 1; leave it out to use every image")
    if int(cfg.batch_size) < 1:
        raise ConfigError(f"{opt('batch_size', cfg.batch_size)}: must be at least 1")
    if cfg.threads is not None and int(cfg.threads) < 1:
        raise ConfigError(f"{opt('threads', cfg.threads)}: must be at least 1; leave it out to use what the machine offers")


def check_preset(preset: str, method_names: Sequence[str]) -> None:
    """A preset every selected method offers; else one line listing what each offers."""
    lacking = [m for m in method_names if preset not in METHODS.get(m).presets]
    if lacking:
        common = [p for p in METHODS.get(method_names[0]).presets if all(p in METHODS.get(m).presets for m in method_names)]
        raise ConfigError(f"{opt('preset', preset)}: not a preset of {', '.join(lacking)}; "
                          f"valid presets: {', '.join(common) or '(none shared by the selected methods)'}")


def generator_hint(generator: Any, dataset: str) -> Optional[str]:
    """The run's generator name before anything is loaded: the one given, else the dataset's."""
    if isinstance(generator, (str, Path)):
        return str(generator)
    if generator is not None:
        return getattr(generator, "name", None)
    from ..errors import GaniBenchError
    from .datasets import get_manifest

    try:
        return get_manifest(dataset).generator
    except GaniBenchError:
        return None


def _in_all(name: str, generator: Optional[str]) -> bool:
    """``all`` leaves out methods that say they cannot run on this generator (an encoder method
    for a generator with no registered encoder of its kind); naming them explicitly still works."""
    available_for = getattr(METHODS.get(name), "available_for", None)
    reason = available_for(generator) if callable(available_for) and generator is not None else None
    if reason is not None:
        log.info("--method all: %s left out (%s)", name, reason)
    return reason is None


def resolve_methods(methods: Union[str, Sequence[str]], generator: Optional[str] = None) -> List[str]:
    """Method names of a ``--method`` value; ``all`` = every registered method that can run on
    ``generator`` (plain methods and the curated combinations, docs/methods.md)."""
    items = [methods] if isinstance(methods, str) else list(methods)
    names: List[str] = []
    for item in items:
        for part in (p.strip() for p in str(item).split(",")):
            if not part:
                continue
            if part == "all":
                names.extend(n for n in METHODS.names() if n not in names and _in_all(n, generator))
            else:
                METHODS.get(part)  # one-line error listing the valid names
                if part not in names:
                    names.append(part)
    if not names:
        raise ConfigError(f"no method selected; pass {opt('methods')}NAME (valid: {', '.join(METHODS.names())}, or all)")
    return names


def resolve_metrics(metrics: Optional[Sequence[str]], preset: str) -> List[str]:
    """Metric names to compute: as given (``all`` = every registered one), else the preset's default."""
    names = [p.strip() for item in (metrics or []) for p in str(item).split(",") if p.strip()]
    if names == ["all"] or (not names and preset != "fast"):
        return METRICS.names()
    if not names:
        chosen = [n for n in FAST_METRICS if n in METRICS]
        log.info("metrics: %s (fast-preset default; %s for every metric)", ", ".join(chosen), opt("metrics", "all"))
        return chosen
    for n in names:
        METRICS.get(n)  # one-line error listing the valid names
    return names


def _set(key: str) -> str:
    """An override as the user wrote it: ``--set key`` (CLI) or ``overrides['key']`` (API)."""
    return f"--set {key}" if is_cli() else f"overrides[{key!r}]"


def _accepts(method: str, key: str) -> bool:
    """Whether method ``method`` takes ``--set key=...`` (its ``accepts``; plain dataclass fields else)."""
    cls = METHODS.get(method)
    accepts = getattr(cls, "accepts", None)
    if callable(accepts):
        return bool(accepts(key))
    return key in {f.name for f in dataclasses.fields(cls.Config)}


def split_overrides(overrides: Union[Mapping[str, Any], Sequence[str]], methods: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``key=value`` applies to every selected method that has the field; ``method.key=value`` to one.

    A composed method (``e4e+pti``) also takes ``stage.key=value``: ``pti.tune_steps=10`` goes to
    the method ``pti`` and to the ``pti`` stage of every composed method in the run
    (docs/methods.md, "Composition").
    """
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        pairs = []
        for text in overrides:
            if "=" not in text:
                raise ConfigError(f"{_set(text)}: expected key=value or method.key=value")
            key, value = text.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    per: Dict[str, Dict[str, Any]] = {m: {} for m in methods}
    for key, value in pairs:
        head, _, tail = key.partition(".")
        if tail:
            staged = [m for m in methods if m != head and _accepts(m, key)]
            if head in per or staged:
                if head in per:
                    per[head][tail] = value
                for m in staged:
                    per[m][key] = value
                continue
            if head in METHODS:
                raise ConfigError(f"{_set(key)}: method {head!r} is not part of this run ({', '.join(methods)})")
        takers = [m for m in methods if _accepts(m, key)]
        if not takers:
            raise ConfigError(f"{_set(key)}: none of the selected methods ({', '.join(methods)}) has a field {key!r}")
        for m in takers:
            per[m][key] = value
    return per


def request_record(cfg: RunConfig, methods: Sequence[str], preset: str) -> Dict[str, Any]:
    """The JSON-able request of a run (``run.json`` ``request``): enough to run it again, e.g. by
    ``gani-bench check --init``. A generator passed as a module is recorded as None."""
    overrides = ([f"{k}={v}" for k, v in cfg.overrides.items()] if isinstance(cfg.overrides, Mapping)
                 else [str(o) for o in cfg.overrides])
    metrics = [p.strip() for item in (cfg.metrics or []) for p in str(item).split(",") if p.strip()] or None
    edits = cfg.edits if cfg.edits is None or isinstance(cfg.edits, str) else list(cfg.edits)
    return {"methods": list(methods), "dataset": str(cfg.dataset), "preset": preset, "overrides": overrides,
            "limit": cfg.limit, "batch_size": int(cfg.batch_size), "device": str(cfg.device), "seed": int(cfg.seed),
            "edits": edits, "metrics": metrics,
            "generator": cfg.generator if isinstance(cfg.generator, (str, type(None))) else None}
