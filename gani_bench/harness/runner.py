"""The run loop: every (method, image) pair inverted, measured and committed as soon as it ends.

Order of work: resolve plugins, dataset, generator, metrics and edits once; then per method
build its config (preset + ``--set`` overrides), drop the images the store already holds (resume),
take this rank's shard, and for each batch: invert, compute metrics, save the reconstruction
(and edited images for the grid), append one row per image. Nothing here is fatal per image: a
bad file is skipped, a method exception becomes a ``failed`` row, a metric without weights is
decided unavailable before the first image (``metric_set``) and the others go on; a resumed run
first fills metric columns missing from finished images (``metric_fill``).

The pieces the loop uses live beside it, one job each: ``selection`` (RunConfig and name
resolution), ``provenance``, ``generator_source``, ``metric_set``, ``run_dir`` and ``outputs``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from ..errors import GaniBenchError, WeightsUnavailable
from ..interface import opt
from ..methods.base import METHODS, config_to_dict
from ..metrics.base import EditContext
from ..plugins import load_plugins
from . import distributed
from .datasets import DEFAULT_DATASET, Dataset, ImageEntry, iter_samples, open_dataset
from .generator_source import GeneratorCache, resolve_generator
from .images import as_saved, save_png
from .metric_fill import TARGET_DIR, EditSource, fill_missing
from .metric_set import MetricSet
from .outputs import base_ref, render_edits, save_deltas
from .provenance import config_hash, device_name, git_commit, package_versions
from .run_dir import RUN_FILE, check_run_dir, clear_results, default_run_dir, write_run_record
from .devices import apply_threads, threads_notice
from ..plugins import PLUGINS_ENV, import_extra_plugins
from .selection import (FAST_METRICS, RunConfig, RunResult, check_preset, generator_hint,
                        request_record, resolve_methods, resolve_metrics, split_overrides,
                        validate_request)
from .store import ResultRow, ResultStore, finished_images

__all__ = ["RunConfig", "RunResult", "run", "clear_results", "resolve_methods", "resolve_metrics",
           "split_overrides", "check_run_dir", "write_run_record", "FAST_METRICS", "PLUGINS_ENV", "RUN_FILE"]

log = logging.getLogger("gani_bench.run")

#: metrics shown in the progress bar (when present)
PROGRESS_METRICS = ("mse", "lpips")
#: per method, edited images are rendered for the first this-many images (the grid shows them)
GRID_EDIT_IMAGES = 8


def _batches(items: Sequence[Any], size: int) -> List[List[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _running_postfix(sums: Dict[str, List[float]]) -> Dict[str, str]:
    return {k: f"{sum(v) / len(v):.4g}" for k, v in sums.items() if v}


def run(cfg: RunConfig) -> RunResult:
    """Run the benchmark described by ``cfg`` (see :class:`RunConfig`); resumes ``cfg.out``."""
    validate_request(cfg)
    load_plugins()
    import_extra_plugins()
    method_names = resolve_methods(cfg.methods, generator_hint(cfg.generator, cfg.dataset))
    preset = cfg.preset or ("fast" if cfg.dataset == DEFAULT_DATASET else "paper")
    check_preset(preset, method_names)
    per_method = split_overrides(cfg.overrides, method_names)
    configs = {m: METHODS.get(m).make_config(preset, per_method[m]) for m in method_names}

    info = distributed.env_world()
    device = distributed.device_for(cfg.device, info)
    # the thread count is the run's, not the caller's process's: restored when the run ends
    threads_before = torch.get_num_threads()
    apply_threads(cfg.threads)
    info = distributed.init(device.type)
    try:
        return _run(cfg, info, device, method_names, preset, configs)
    finally:
        distributed.shutdown(info)
        torch.set_num_threads(threads_before)


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
    #: image id -> what loading changed (centre-cropped ...), said once per run, listed in the report
    notices: Dict[str, str] = field(default_factory=dict)

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
        log.info("preset: %s (default for dataset %s; choose with %s)", preset, cfg.dataset, opt("preset"))
    G, ginfo, gen_name = resolve_generator(cfg.generator, ds.manifest.generator, device)
    if info.is_main and device.type == "cpu":
        log.info(threads_notice(torch.get_num_threads(), cfg.threads))
    run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg.dataset)
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "dataset": ds.name, "dataset_fingerprint": ds.fingerprint, "generator": gen_name, "seed": int(cfg.seed),
        "resolution": int(G.img_resolution), "preset": preset, "versions": package_versions(),
        "methods": {m: {"config": config_to_dict(c), "hash": config_hash({"method": m, "config": config_to_dict(c)})}
                    for m, c in configs.items()},
        "request": request_record(cfg, method_names, preset),
    }
    # every rank checks (so a refusal ends all of them alike); only rank 0 discards (--force) and writes
    if info.is_main or not cfg.force:
        check_run_dir(run_dir, record, cfg.force and info.is_main)
    distributed.barrier(info)
    if info.is_main:
        write_run_record(run_dir, record)
    distributed.barrier(info)

    metrics = MetricSet(resolve_metrics(cfg.metrics, preset), device, progress=info.is_main)
    if info.is_main and metrics.summary_line():
        log.warning("%s", metrics.summary_line())  # once per run (rank 0 under torchrun), one line
    ctx = _Ctx(cfg=cfg, info=info, device=device, ds=ds, G=G, gen_name=gen_name, run_dir=run_dir,
               store=ResultStore(run_dir, info.rank), metrics=metrics,
               edits=_resolve_edits(cfg.edits, ginfo, G, cfg.seed), provider=GeneratorCache(G, gen_name, device),
               common=dict(versions=package_versions(), device=device_name(device), git_commit=git_commit(),
                           seed=int(cfg.seed), rank=info.rank),
               base_ref=base_ref(G, ginfo, gen_name) if cfg.save_deltas else None)
    ctx.store.set_meta("device", device_name(device))
    counts: Dict[str, Dict[str, int]] = {}
    try:
        fill_missing(run_dir, ctx.store, metrics, method_names, info,  # resume: columns missing since
                     edits_from=EditSource(generator=G, edits=ctx.edits, seed=int(cfg.seed),
                                            fingerprint=getattr(ginfo, "fingerprint", None)))
        for m in method_names:
            counts[m] = _run_method(ctx, m, configs[m])
    finally:
        if ctx.notices and info.is_main:
            first = next(iter(ctx.notices.items()))
            log.info("%d image(s) adjusted on load (e.g. %s: %s); each is listed in the report", len(ctx.notices), *first)
        for name, reason in metrics.unavailable.items():
            ctx.store.set_meta(f"unavailable:{name}", reason)
        for name in metrics.partial:
            ctx.store.set_meta(f"partial:{name}", metrics.partial_note(name))
        ctx.store.close()

    distributed.barrier(info)
    result = RunResult(run_dir=run_dir, counts=counts, unavailable_metrics=dict(metrics.unavailable))
    if info.is_main and cfg.report:
        from ..report import build_report

        out = Path(cfg.report_out) if cfg.report_out else run_dir / "report"
        rep = build_report([run_dir], out)
        result.table, result.table1, result.report_dir = rep.summary, rep.table1, out
    elif info.is_main:
        from ..report.tables import load_runs, summarize, table1

        df = load_runs([run_dir])
        result.table = summarize(df)
        result.table1 = table1(result.table, df)[0]
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

    method = METHODS.get(m)(config)
    method.generator_name = ctx.gen_name  # stages that pick files per generator (encoders) read it
    st = _MethodState(
        name=m, method=method, config_hash=config_hash({"method": m, "config": cfg_dict}),
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
        if sample.fixes:
            ctx.notices.setdefault(sample.image_id, "; ".join(sample.fixes))
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
        # targets as saved, like the image metrics: a resume recomputes edit metrics from the PNGs
        return EditContext(generator=ctx.G, latents=result.latents.detach(), weight_deltas=result.weight_deltas,
                           targets=as_saved(targets), edits=ctx.edits, seed=cfg.seed, encoder=getattr(result, "encoder", None))

    t_metrics = time.perf_counter()
    values = ctx.metrics.compute(recon, targets, edit_ctx, method=m)
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
            for name, img in render_edits(ctx.G, result, i, ctx.edits).items():
                save_png(img.float().cpu(), folder / f"{sample.image_id}@{name}.png")
        except (GaniBenchError, RuntimeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("%s: edited images of %s not rendered (%s)", st.name, sample.image_id, first)
    if ctx.cfg.save_deltas:
        save_deltas(ctx.run_dir / "latents" / st.name, sample.image_id, result, i, ctx.base_ref,
                     {"method": st.name, "config": json.loads(st.config_json)})
