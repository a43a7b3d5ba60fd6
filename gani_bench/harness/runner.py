"""The run loop: every (method, image) pair inverted, measured and committed as soon as it ends.

Order of work: resolve plugins, dataset, generator, metrics and edits once; then per method
build its config (preset + ``--set`` overrides), drop the images the store already holds (resume),
take this rank's shard, and for each batch: invert, compute metrics, save the reconstruction
(and edited images for the grid), append one row per image. Nothing here is fatal per image: a
bad file is skipped, a method exception becomes a ``failed`` row, a metric without weights is
reported unavailable once and the others go on.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..errors import ConfigError, GaniBenchError, WeightsUnavailable
from ..methods.base import METHODS, config_to_dict
from ..metrics.base import METRICS, EditContext
from ..plugins import load_plugins
from . import distributed
from .datasets import DEFAULT_DATASET, Dataset, ImageEntry, iter_samples, open_dataset
from .images import save_png
from .store import ResultRow, ResultStore, finished_images, store_parts

log = logging.getLogger("gani_bench.run")

#: env var naming extra plugin modules to import (comma-separated), e.g. a user's method file
PLUGINS_ENV = "GANI_BENCH_PLUGINS"
#: metrics shown in the progress bar (when present)
PROGRESS_METRICS = ("mse", "lpips")
#: default metrics of the ``fast`` preset (those registered): the papers' columns, identity, and
#: the cheaper edit metrics. The LPIPS-based edit/locality metrics and LPIPS-VGG cost 2-5 s per
#: image each on a CPU (measured on 2 shared cores), more than the fast methods themselves; the
#: ``paper`` preset and ``--metrics all`` compute every registered metric.
FAST_METRICS = ("mse", "psnr", "ms_ssim", "lpips", "id_similarity", "id_similarity_arcface", "id_similarity_facenet",
                "id_similarity_dlib", "edit_consistency_mse", "edit_id", "edit_id_arcface", "edit_id_facenet",
                "edit_id_dlib", "lec")
#: per method, edited images are rendered for the first this-many images (the grid shows them)
GRID_EDIT_IMAGES = 8
RUN_FILE = "run.json"
#: folder under images/ holding the targets as loaded (same name as report.grids.TARGET_DIR)
TARGET_DIR = "_target"


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


@dataclass
class RunResult:
    run_dir: Path
    #: per-method summary (pandas DataFrame) of this run, rank 0 only (None elsewhere)
    table: Any = None
    report_dir: Optional[Path] = None
    counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    unavailable_metrics: Dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------- small helpers
def import_extra_plugins() -> None:
    """Import modules named in ``$GANI_BENCH_PLUGINS`` (a method or metric in a user's file)."""
    for name in filter(None, (s.strip() for s in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"${PLUGINS_ENV} names module {name!r} which cannot be imported ({exc}); fix the name or PYTHONPATH") from None


def resolve_methods(methods: Union[str, Sequence[str]]) -> List[str]:
    items = [methods] if isinstance(methods, str) else list(methods)
    names: List[str] = []
    for item in items:
        for part in (p.strip() for p in str(item).split(",")):
            if not part:
                continue
            if part == "all":
                names.extend(n for n in METHODS.names() if n not in names)
            else:
                METHODS.get(part)  # one-line error listing the valid names
                if part not in names:
                    names.append(part)
    if not names:
        raise ConfigError(f"no method selected; pass --method NAME (valid: {', '.join(METHODS.names())}, or all)")
    return names


def resolve_metrics(metrics: Optional[Sequence[str]], preset: str) -> List[str]:
    """Metric names to compute: as given (``all`` = every registered one), else the preset's default."""
    names = [p.strip() for item in (metrics or []) for p in str(item).split(",") if p.strip()]
    if names == ["all"] or (not names and preset != "fast"):
        return METRICS.names()
    if not names:
        chosen = [n for n in FAST_METRICS if n in METRICS]
        log.info("metrics: %s (fast-preset default; --metrics all for every metric)", ", ".join(chosen))
        return chosen
    for n in names:
        METRICS.get(n)  # one-line error listing the valid names
    return names


def split_overrides(overrides: Union[Mapping[str, Any], Sequence[str]], methods: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``key=value`` applies to every selected method that has the field; ``method.key=value`` to one."""
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    else:
        pairs = []
        for text in overrides:
            if "=" not in text:
                raise ConfigError(f"--set {text!r}: expected key=value or method.key=value")
            key, value = text.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    per: Dict[str, Dict[str, Any]] = {m: {} for m in methods}
    for key, value in pairs:
        head, _, tail = key.partition(".")
        if tail and head in METHODS:
            if head not in per:
                raise ConfigError(f"--set {key}: method {head!r} is not part of this run ({', '.join(methods)})")
            per[head][tail] = value
            continue
        takers = [m for m in methods if key in {f.name for f in dataclasses.fields(METHODS.get(m).Config)}]
        if not takers:
            raise ConfigError(f"--set {key}: none of the selected methods ({', '.join(methods)}) has a field {key!r}")
        for m in takers:
            per[m][key] = value
    return per


def config_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def package_versions() -> Dict[str, str]:
    import gani_bench

    return {"gani_bench": gani_bench.__version__, "torch": torch.__version__, "python": platform.python_version()}


def git_commit() -> Optional[str]:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu {platform.machine()} ({torch.get_num_threads()} threads)"


# ------------------------------------------------------------------------------- generator
def resolve_generator(spec: Any, default_name: Optional[str], device: torch.device) -> Tuple[Any, Any, str]:
    """Return ``(G, info, name)``; ``spec`` is a module, a registered name or a checkpoint path."""
    if isinstance(spec, torch.nn.Module):
        return spec.to(device).eval(), getattr(spec, "info", None), str(getattr(spec, "name", "custom-generator"))
    name = str(spec) if spec else (default_name or "embedded-64")
    from ..checkpoints.loader import load_generator

    G, info = load_generator(name, device)
    return G.eval(), info, name


class GeneratorCache:
    """Generators needed to render manifest images, the run's own generator included."""

    def __init__(self, run_generator: Any, run_name: str, device: torch.device) -> None:
        self._cache: Dict[str, Any] = {run_name: run_generator}
        self.device = device

    def __call__(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = resolve_generator(name, None, self.device)[0]
        return self._cache[name]


# ------------------------------------------------------------------------------- metrics
class MetricSet:
    """Instantiated metrics; the unavailable ones carry their one-line reason instead."""

    def __init__(self, names: Optional[Sequence[str]], device: torch.device) -> None:
        self.image: List[Tuple[str, Any]] = []
        self.edit: List[Tuple[str, Any]] = []
        self.unavailable: Dict[str, str] = {}
        for name in names if names is not None else METRICS.names():
            cls = METRICS.get(name)
            try:
                metric = cls(device)
                reason = metric.unavailable_reason()
            except GaniBenchError as exc:
                reason = str(exc)
            if reason is not None:
                self.mark_unavailable(name, reason)
                continue
            (self.edit if getattr(cls, "kind", "image") == "edit" else self.image).append((name, metric))

    def mark_unavailable(self, name: str, reason: str) -> None:
        if name not in self.unavailable:
            self.unavailable[name] = reason
            log.warning("metric %s unavailable: %s", name, reason)
        self.image = [(n, m) for n, m in self.image if n != name]
        self.edit = [(n, m) for n, m in self.edit if n != name]

    def compute(self, pred: torch.Tensor, target: torch.Tensor, ctx_factory: Callable[[], EditContext]) -> List[Dict[str, float]]:
        n = pred.shape[0]
        values: List[Dict[str, float]] = [{} for _ in range(n)]
        for name, metric in list(self.image):
            col = self._guard(name, lambda: {name: metric.compute(pred, target)})
            self._spread(col, values)
        if self.edit:
            ctx = ctx_factory()
            for name, metric in list(self.edit):
                self._spread(self._guard(name, lambda: metric.compute_edit(ctx)), values)
        return values

    def _guard(self, name: str, fn: Callable[[], Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
        try:
            with torch.no_grad():
                return fn()
        except WeightsUnavailable as exc:
            self.mark_unavailable(name, str(exc))
        except (GaniBenchError, RuntimeError, ValueError) as exc:
            # one metric failing on one batch must not lose the row: its value is NaN
            log.warning("metric %s failed on this batch (%s: %s); recorded as missing", name, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return {}

    @staticmethod
    def _spread(cols: Dict[str, torch.Tensor], values: List[Dict[str, float]]) -> None:
        for col, tensor in cols.items():
            flat = torch.as_tensor(tensor).detach().float().cpu().reshape(-1)
            for i, v in enumerate(flat.tolist()[: len(values)]):
                values[i][col] = v


# ------------------------------------------------------------------------------- run directory
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
        raise ConfigError(f"{run_dir} holds results of a different config ({shown}); use another --out, or --force to discard them")
    log.warning("--force: discarding the results in %s (%s)", run_dir, "; ".join(diffs[:6]))
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


# ------------------------------------------------------------------------------- the loop
def _batches(items: Sequence[Any], size: int) -> List[List[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _render_edits(G: Any, result: Any, i: int, edits: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
    from ..stylegan2.functional import synthesize

    deltas = result.weight_deltas[i] if result.weight_deltas else None
    noise = {k: v[i : i + 1] for k, v in result.noise.items()} if result.noise else None
    latents = result.latents[i : i + 1]
    out = {}
    with torch.no_grad():
        for name, edit in edits.items():
            out[name] = synthesize(G, edit(latents), deltas=deltas, noise_mode="const", noise=noise)[0]
    return out


def _save_deltas(folder: Path, image_id: str, result: Any, i: int, base_ref: Any, provenance: Dict[str, Any]) -> None:
    """Latents (``<id>.latents.safetensors``) and weight deltas (``<id>.deltas.safetensors``, the
    checkpoint module's format, tied to the base generator's fingerprint) of one image."""
    from safetensors.torch import save_file

    from ..checkpoints.native import save_weight_deltas

    folder.mkdir(parents=True, exist_ok=True)
    lat = folder / f"{image_id}.latents.safetensors"
    tmp = lat.with_name(lat.name + ".part")
    save_file({"latents": result.latents[i].detach().float().cpu().contiguous()}, str(tmp),
              metadata={"latent_space": str(result.latent_space)})
    tmp.replace(lat)
    if result.weight_deltas:
        out = folder / f"{image_id}.deltas.safetensors"
        tmp = out.with_name(out.name + ".part")
        deltas = {k: v.detach().cpu().contiguous() for k, v in result.weight_deltas[i].items()}
        save_weight_deltas(deltas, tmp, base_ref, info={**provenance, "image_id": image_id})
        tmp.replace(out)


def _base_ref(G: Any, ginfo: Any, gen_name: str) -> Any:
    """What weight deltas are tied to: the loader's GeneratorInfo, else name + tensor fingerprint."""
    if ginfo is not None:
        return ginfo
    from ..checkpoints.state import state_fingerprint

    return {"name": gen_name, "fingerprint": state_fingerprint(G)}


def _running_postfix(sums: Dict[str, List[float]]) -> Dict[str, str]:
    return {k: f"{sum(v) / len(v):.4g}" for k, v in sums.items() if v}


def run(cfg: RunConfig) -> RunResult:
    """Run the benchmark described by ``cfg`` (see :class:`RunConfig`); resumes ``cfg.out``."""
    load_plugins()
    import_extra_plugins()
    method_names = resolve_methods(cfg.methods)
    preset = cfg.preset or ("fast" if cfg.dataset == DEFAULT_DATASET else "paper")
    per_method = split_overrides(cfg.overrides, method_names)
    configs = {m: METHODS.get(m).make_config(preset, per_method[m]) for m in method_names}
    if cfg.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {cfg.batch_size}")

    info = distributed.env_world()
    device = distributed.device_for(cfg.device, info)
    info = distributed.init(device.type)
    try:
        return _run(cfg, info, device, method_names, preset, configs)
    finally:
        distributed.shutdown(info)


@dataclass
class _Ctx:
    """Everything resolved once per run that the per-method loop needs."""

    cfg: RunConfig
    info: distributed.DistInfo
    device: torch.device
    ds: Dataset
    G: Any
    gen_name: str
    run_dir: Path
    store: ResultStore
    metrics: MetricSet
    edits: Dict[str, Any]
    provider: "GeneratorCache"
    common: Dict[str, Any]
    base_ref: Any = None

    @property
    def resolution(self) -> int:
        return int(self.G.img_resolution)


@dataclass
class _MethodState:
    """Per-method state of the loop: the method, its row template and counters."""

    name: str
    method: Any
    config_hash: str
    config_json: str
    grid_ids: set
    bar: Any
    counts: Dict[str, int]
    sums: Dict[str, List[float]]
    unavailable: Optional[str] = None

    def row(self, ctx: _Ctx, image_id: str, **kw: Any) -> ResultRow:
        return ResultRow(method=self.name, image_id=image_id, config_hash=self.config_hash,
                         config_json=self.config_json, **ctx.common, **kw)


def _run(cfg: RunConfig, info: distributed.DistInfo, device: torch.device, method_names: List[str],
         preset: str, configs: Dict[str, Any]) -> RunResult:
    ds: Dataset = open_dataset(cfg.dataset, root=cfg.root, align=cfg.align, limit=cfg.limit)
    if cfg.preset is None and info.is_main:
        log.info("preset: %s (default for dataset %s; choose with --preset)", preset, cfg.dataset)
    G, ginfo, gen_name = resolve_generator(cfg.generator, ds.manifest.generator, device)
    run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg.dataset)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "dataset": ds.name, "dataset_fingerprint": ds.fingerprint, "generator": gen_name, "seed": int(cfg.seed),
        "resolution": int(G.img_resolution), "preset": preset, "versions": package_versions(),
        "methods": {m: {"config": config_to_dict(c), "hash": config_hash({"method": m, "config": config_to_dict(c)})}
                    for m, c in configs.items()},
    }
    # every rank checks (so a refusal ends all of them alike); only rank 0 discards (--force) and writes
    if info.is_main or not cfg.force:
        check_run_dir(run_dir, record, cfg.force and info.is_main)
    distributed.barrier(info)
    if info.is_main:
        write_run_record(run_dir, record)
    distributed.barrier(info)

    metrics = MetricSet(resolve_metrics(cfg.metrics, preset), device)
    ctx = _Ctx(cfg=cfg, info=info, device=device, ds=ds, G=G, gen_name=gen_name, run_dir=run_dir,
               store=ResultStore(run_dir, info.rank), metrics=metrics,
               edits=_resolve_edits(cfg.edits, ginfo, G, cfg.seed), provider=GeneratorCache(G, gen_name, device),
               common=dict(versions=package_versions(), device=device_name(device), git_commit=git_commit(),
                           seed=int(cfg.seed), rank=info.rank),
               base_ref=_base_ref(G, ginfo, gen_name) if cfg.save_deltas else None)
    ctx.store.set_meta("device", device_name(device))
    counts: Dict[str, Dict[str, int]] = {}
    try:
        for m in method_names:
            counts[m] = _run_method(ctx, m, configs[m])
    finally:
        for name, reason in metrics.unavailable.items():
            ctx.store.set_meta(f"unavailable:{name}", reason)
        ctx.store.close()

    distributed.barrier(info)
    result = RunResult(run_dir=run_dir, counts=counts, unavailable_metrics=dict(metrics.unavailable))
    if info.is_main and cfg.report:
        from ..report import build_report

        out = Path(cfg.report_out) if cfg.report_out else run_dir / "report"
        rep = build_report([run_dir], out)
        result.table, result.report_dir = rep.summary, out
    elif info.is_main:
        from ..report.tables import load_runs, summarize

        result.table = summarize(load_runs([run_dir]))
    return result


def _resolve_edits(spec: Any, ginfo: Any, G: Any, seed: int) -> Dict[str, Any]:
    """The generator's edits (published for its domain, synthetic otherwise); {} for ``none``."""
    if spec is None or spec == "none" or spec == ["none"]:
        return {}
    names = None if spec in ("default", ["default"]) else ([spec] if isinstance(spec, str) else list(spec))
    if names is not None and len(names) == 1 and "," in names[0]:
        names = [n.strip() for n in names[0].split(",") if n.strip()]
    from ..edits.registry import edits_for_generator

    try:
        return edits_for_generator(ginfo, int(G.w_dim), int(G.num_ws), names, generator=G, seed=seed)
    except WeightsUnavailable as exc:
        log.warning("edits unavailable: %s; edit metrics and edited images are left out", exc)
        return {}


def _run_method(ctx: _Ctx, m: str, config: Any) -> Dict[str, int]:
    cfg, ds, info = ctx.cfg, ctx.ds, ctx.info
    cfg_dict = config_to_dict(config)
    done = finished_images(ctx.run_dir, m, retry_failed=cfg.retry_failed)
    todo: List[ImageEntry] = [e for e in ds.entries if e.image_id not in done]
    mine = distributed.shard(todo, info)
    counts = {"ok": 0, "failed": 0, "skipped": 0, "resumed": len(ds.entries) - len(todo)}
    if counts["resumed"] and info.is_main:
        log.info("%s: %d of %d images already in %s, resuming", m, counts["resumed"], len(ds.entries), ctx.run_dir)
    if not mine:
        return counts

    from tqdm import tqdm

    st = _MethodState(
        name=m, method=METHODS.get(m)(config), config_hash=config_hash({"method": m, "config": cfg_dict}),
        config_json=json.dumps(cfg_dict, sort_keys=True, default=str),
        grid_ids={e.image_id for e in ds.entries[:GRID_EDIT_IMAGES]},
        bar=tqdm(total=len(mine), desc=m, position=info.rank, leave=True, disable=not cfg.progress, dynamic_ncols=True),
        counts=counts, sums={k: [] for k in PROGRESS_METRICS})

    def on_skip(entry: ImageEntry, reason: str) -> None:
        log.warning("skipped %s: %s", entry.image_id, reason)
        ctx.store.append(st.row(ctx, entry.image_id, status="skipped", error=reason))
        counts["skipped"] += 1
        st.bar.update(1)

    samples = iter_samples(ds, mine, ctx.resolution, on_skip, generator_provider=ctx.provider,
                           run_generator_name=ctx.gen_name, device=ctx.device)
    pending: List[Any] = []
    t_start = time.perf_counter()
    for sample in samples:
        pending.append(sample)
        if len(pending) == cfg.batch_size:
            _process_batch(ctx, st, pending, t_start)
            pending, t_start = [], time.perf_counter()
    if pending:
        _process_batch(ctx, st, pending, t_start)
    st.bar.close()
    return counts


def _record_failure(ctx: _Ctx, st: _MethodState, batch: List[Any], reason: str) -> None:
    for s in batch:
        ctx.store.append(st.row(ctx, s.image_id, status="failed", error=reason, notes="; ".join(s.fixes) or None))
        st.counts["failed"] += 1
    st.bar.update(len(batch))


def _process_batch(ctx: _Ctx, st: _MethodState, batch: List[Any], t_start: float) -> None:
    """Invert one batch, measure it, save its images and append one row per image."""
    cfg, m = ctx.cfg, st.name
    if st.unavailable is not None:  # the method's weights are missing: every image fails the same way
        _record_failure(ctx, st, batch, st.unavailable)
        return
    targets = torch.stack([s.target for s in batch]).to(ctx.device)
    torch.manual_seed(cfg.seed)
    t_method = time.perf_counter()
    try:
        result = st.method.invert(ctx.G, targets, seed=cfg.seed)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - any method bug must cost one batch, not the run
        first = str(exc).splitlines()[0] if str(exc) else ""
        reason = f"{type(exc).__name__}: {first}"
        log.warning("%s failed on %s: %s", m, ", ".join(s.image_id for s in batch), reason)
        _record_failure(ctx, st, batch, reason)
        if isinstance(exc, WeightsUnavailable):
            st.unavailable = reason  # say it once, do not retry per image
        return
    method_wall = time.perf_counter() - t_method
    # The protocol scores saved images: a reconstruction is an image in [-1, 1] (what its PNG
    # holds), so values a generator puts outside that range are clipped before any metric.
    recon = result.reconstruction.detach().clamp(-1, 1)

    def edit_ctx() -> EditContext:
        return EditContext(generator=ctx.G, latents=result.latents.detach(), weight_deltas=result.weight_deltas,
                           targets=targets, edits=ctx.edits, seed=cfg.seed)

    t_metrics = time.perf_counter()
    values = ctx.metrics.compute(recon, targets, edit_ctx)
    metric_seconds = (time.perf_counter() - t_metrics) / len(batch)
    stage = dict(result.stage_seconds) or {"total": method_wall / len(batch)}
    for i, sample in enumerate(batch):
        _save_images(ctx, st, result, recon, sample, i)
    # harness overhead per image: loading + saving + bookkeeping = wall time outside invert and metrics
    harness = max(0.0, time.perf_counter() - t_start - method_wall - metric_seconds * len(batch)) / len(batch)
    for i, sample in enumerate(batch):
        ctx.store.append(st.row(ctx, sample.image_id, status="ok", metrics=values[i], stage_seconds=stage,
                                metric_seconds=metric_seconds, harness_seconds=harness,
                                steps=result.steps[i] if i < len(result.steps) else {},
                                image_path=str(Path("images") / m / f"{sample.image_id}.png"),
                                notes="; ".join(sample.fixes) or None))
        st.counts["ok"] += 1
        for k in st.sums:
            v = values[i].get(k)
            if v is not None and math.isfinite(v):
                st.sums[k].append(v)
    st.bar.update(len(batch))
    st.bar.set_postfix(_running_postfix(st.sums))


def _save_images(ctx: _Ctx, st: _MethodState, result: Any, recon: torch.Tensor, sample: Any, i: int) -> None:
    """Reconstruction PNG, the target PNG (once), edited PNGs for the grid, optional deltas."""
    folder = ctx.run_dir / "images" / st.name
    save_png(recon[i].float().cpu(), folder / f"{sample.image_id}.png")
    target_png = ctx.run_dir / "images" / TARGET_DIR / f"{sample.image_id}.png"
    if not target_png.is_file():
        save_png(sample.target, target_png)
    if ctx.edits and sample.image_id in st.grid_ids:
        try:
            for name, img in _render_edits(ctx.G, result, i, ctx.edits).items():
                save_png(img.float().cpu(), folder / f"{sample.image_id}@{name}.png")
        except (GaniBenchError, RuntimeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("%s: edited images of %s not rendered (%s)", st.name, sample.image_id, first)
    if ctx.cfg.save_deltas:
        _save_deltas(ctx.run_dir / "latents" / st.name, sample.image_id, result, i, ctx.base_ref,
                     {"method": st.name, "config": json.loads(st.config_json)})


def clear_results(run_dir: Path) -> None:
    """Delete a run's stored results (used by ``check``, which always starts clean)."""
    for part in store_parts(run_dir):
        part.unlink()
    for extra in Path(run_dir).glob("results.rank*.sqlite-*"):
        extra.unlink()
    for sub in ("images", "latents", "report"):
        shutil.rmtree(Path(run_dir) / sub, ignore_errors=True)
    (Path(run_dir) / RUN_FILE).unlink(missing_ok=True)
