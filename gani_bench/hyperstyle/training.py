"""Train a HyperStyle hypernetwork (the authors' losses and schedule) on any of our generators.

Facts from ``training/coach_hyperstyle.py`` and ``options/train_options.py`` of
yuval-alaluf/hyperstyle: per batch, the W-encoder's latents are fixed and the reconstruction
is refined over ``n_iters_per_batch`` iterations; each iteration feeds ``concat(x, y_hat)``,
adds the hypernetwork's output to the previous offsets, renders with ``W * (1 + Delta)``,
computes the loss on the images pooled to 256 px (``face_pool``) and calls ``backward``; from
the second iteration on the previous offsets and ``y_hat`` are detached; ONE optimiser step per
batch. Loss = 1.0 L2 + 0.8 LPIPS(alex) + 0.1 ID (faces; MoCo for other domains). Ranger,
lr 1e-4; the released FFHQ model used batch 8 and 5 iterations. Only the hypernetwork trains.

Ours: the ``fast`` preset and the small layout (:func:`config_for_generator`) for a CPU;
the ID loss is the encoders' ArcFace IR-SE50 loss, applied to face generators whose weights are
cached (otherwise off, with one warning; the authors' MoCo loss for other domains is not shipped);
ImageNet ResNet34 initialisation as the authors do it, through the weight registry, for the
authors' layout only (a narrower body has no ImageNet weights).
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import torch
from torch import nn

from ..encoders.model import pool_to
from ..encoders.training.losses import build_identity_loss, image_losses
from ..encoders.training.ranger import Ranger
from ..errors import ConfigError
from ..methods.losses import get_perceptual
from ..registry import Registry
from .config import authors_config, config_for_generator
from .data import DatasetImages, SyntheticImages, TrainImages
from .loading import dedupe_shared, save_hyperstyle
from .model import HyperStyle

log = logging.getLogger(__name__)
Device = Union[str, torch.device]
IMAGENET_WEIGHTS = "resnet34-imagenet"

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.add("ranger", lambda params, lr: Ranger(params, lr=lr))  # the authors' default
OPTIMIZERS.add("adam", lambda params, lr: torch.optim.Adam(params, lr=lr))  # the authors' --optim_name adam

@dataclass
class TrainConfig:
    """One training run. Defaults are the authors' (``paper`` preset)."""

    steps: int = 120_000
    batch_size: int = 8
    n_iters: int = 5
    lr: float = 1e-4
    optimizer: str = "ranger"
    l2_lambda: float = 1.0
    lpips_lambda: float = 0.8
    perceptual: str = "lpips_alex"
    id_lambda: float = 0.1
    seed: int = 0
    save_every: int = 1000
    layout: str = "authors"  # 'authors' (ResNet34 body, 256 px input) or 'small'
    small: Dict[str, Any] = field(default_factory=dict)  # config_for_generator keyword arguments
    imagenet_init: bool = True


PRESETS: Dict[str, TrainConfig] = {
    "paper": TrainConfig(),
    # ours, for a CPU: the small layout, batch 4, the test-time 5 iterations, and lr 1e-3 (the
    # authors' 1e-4 is for 120k steps; in a few hundred it barely moves the hypernetwork)
    "fast": TrainConfig(steps=500, batch_size=4, n_iters=5, lr=1e-3, save_every=100, layout="small",
                        small=dict(width=16, code_channels=32, input_size=64)),
}


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(name)(params, lr)


def imagenet_init(model: HyperStyle, weights_path: Path) -> None:
    """The authors' initialisation: body = ImageNet ResNet34 ``layer1..4`` (``body.N``); stem
    ``conv1`` gets the RGB filters in its first 3 input channels and N(0, 1) in the others, and
    ``bn1`` ImageNet's statistics (``HyperStyle.__get_hypernet_checkpoint``)."""
    state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
    starts = {1: 0, 2: 3, 3: 7, 4: 13}
    mapped: Dict[str, torch.Tensor] = {}
    for k, v in state.items():
        parts = k.split(".")
        if parts[0].startswith("layer") and parts[0][5:].isdigit():
            mapped[".".join(["body", str(starts[int(parts[0][5:])] + int(parts[1]))] + parts[2:])] = v
        elif parts[0] == "bn1":
            mapped[k] = v
    w = state["conv1.weight"]
    stem = torch.randn(w.shape[0], model.config.input_nc, *w.shape[2:])
    stem[:, :3] = w
    mapped["conv1.weight"] = stem
    missing = [k for k in mapped if k not in model.hypernet.state_dict()]
    if missing:
        raise ConfigError(f"{weights_path.name}: {missing[0]} has no place in this hypernetwork; ImageNet init needs the authors' layout")
    model.hypernet.load_state_dict(mapped, strict=False)


def _initialise(model: HyperStyle, cfg: TrainConfig) -> str:
    from ..weights import cached, missing_weights_reason

    if cfg.layout != "authors" or not cfg.imagenet_init:
        return "hypernetwork initialised from scratch (the small layout has no ImageNet ResNet34 to start from)"
    reason = missing_weights_reason(IMAGENET_WEIGHTS)
    if reason:
        return f"hypernetwork initialised from scratch: {reason}"
    imagenet_init(model, cached(IMAGENET_WEIGHTS).path)
    return "hypernetwork body initialised from ImageNet ResNet34 (as the authors do)"


def build_model(G: nn.Module, cfg: TrainConfig) -> HyperStyle:
    if cfg.layout == "authors":
        hcfg = authors_config(int(G.img_resolution))
    elif cfg.layout == "small":
        hcfg = config_for_generator(G, **cfg.small)
    else:
        raise ConfigError(f"layout={cfg.layout!r}: use 'authors' or 'small'")
    return HyperStyle(hcfg, latent_avg=G.mapping.w_avg.detach().clone()).fit(G)


def batch_step(model: HyperStyle, G: nn.Module, x: torch.Tensor, latents: torch.Tensor, cfg: TrainConfig,
               perceptual: Optional[Callable], train: bool = True, identity: Optional[nn.Module] = None) -> Dict[str, float]:
    """One batch as the authors' ``perform_forward_on_batch``: n_iters refinements, a backward
    per iteration (previous offsets and y_hat detached); losses on images pooled to the
    hypernetwork's input size (their ``face_pool``). Returns the last iteration's losses."""
    size = model.config.input_size
    target = pool_to(x, size)
    with torch.no_grad():
        y_hat = pool_to(model.render(G, latents, None), size)
    total: Dict[str, torch.Tensor] = {}
    stats: Dict[str, float] = {}
    for t in range(cfg.n_iters):
        if t > 0:
            total = {k: v.detach() for k, v in total.items()}
            y_hat = y_hat.detach()
        with torch.set_grad_enabled(train):
            step = model.offsets(x, y_hat)
            total = {k: total[k] + v if k in total else v for k, v in step.items()}
            y_hat = pool_to(model.render(G, latents, total), size)
            loss, stats = image_losses(y_hat, target, l2_weight=cfg.l2_lambda, lpips=perceptual, lpips_weight=cfg.lpips_lambda,
                                       identity=identity, id_weight=cfg.id_lambda)
            stats["loss"] = float(loss.detach())
        if train:
            loss.backward()
    return stats


def _resume(path: Path, model: HyperStyle, opt: torch.optim.Optimizer, cfg: TrainConfig) -> int:
    from ..checkpoints.rosinality import read_torch_file

    ckpt = read_torch_file(path)
    stored = dict(ckpt.get("train_config") or {})
    for key in ("layout", "small", "batch_size", "n_iters", "optimizer", "seed"):
        if key in stored and stored[key] != asdict(cfg)[key]:
            raise ConfigError(f"{path}: cannot resume: it was trained with {key}={stored[key]!r}, this run asks for {asdict(cfg)[key]!r}; "
                              "use the same options or another --out")
    hyp = {k[len("hypernet."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("hypernet.")}
    model.hypernet.load_state_dict(dedupe_shared(str(path), hyp), strict=True)
    opt.load_state_dict(ckpt["optimizer"])
    return int(ckpt["global_step"])


def train_hyperstyle(G: nn.Module, w_encoder: Any, out_dir: Union[str, Path], *, images: TrainImages,
                     config: Optional[TrainConfig] = None, device: Device = "cpu", progress: bool = True,
                     generator_name: str = "", w_encoder_name: str = "", domain: Optional[str] = None) -> Path:
    """Train (or resume) in ``out_dir``; returns the final checkpoint (authors' layout).

    ``w_encoder``: an encoder with ``.encode(images, generator=)`` (latents [N, num_ws, w_dim]).
    ``out_dir/checkpoints/latest.pt`` is written every ``save_every`` steps and resumed from.
    ``domain`` (the generator's, e.g. 'faces'): the ID loss applies to faces with cached ArcFace
    weights only; otherwise one warning says it is off.
    """
    cfg = config or TrainConfig()
    torch.manual_seed(cfg.seed)
    out = Path(out_dir) / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(G, cfg).to(device)
    notice = _initialise(model, cfg)
    perceptual = get_perceptual(cfg.perceptual if cfg.lpips_lambda > 0 else "none", device)
    identity = build_identity_loss(domain or "unknown", torch.device(device)) if cfg.id_lambda > 0 else None
    opt = _optimizer(cfg.optimizer, model.hypernet.parameters(), cfg.lr)
    latest = out / "latest.pt"
    step = _resume(latest, model, opt, cfg) if latest.is_file() else 0
    if step:
        log.info("resuming from step %d (%s)", step, latest.name)
    else:
        (log.warning if "scratch" in notice else log.info)("%s", notice)
    opts = {"lr": cfg.lr, "batch_size": cfg.batch_size, "n_iters_per_batch": cfg.n_iters, "l2_lambda": cfg.l2_lambda,
            "lpips_lambda": cfg.lpips_lambda, "id_lambda": cfg.id_lambda if identity is not None else 0.0, "optim_name": cfg.optimizer, "max_steps": cfg.steps,
            "stylegan_weights": Path(generator_name).name, "w_encoder_checkpoint_path": Path(w_encoder_name).name}

    def save(path: Path) -> None:
        save_hyperstyle(model, path, decoder=G, opts=opts, extra={"global_step": step, "best_val_loss": None,
                                                                   "optimizer": opt.state_dict(), "train_config": asdict(cfg)})

    from tqdm import tqdm

    model.hypernet.train()
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc="hyperstyle", unit="step")
    while step < cfg.steps:
        x = images.batch(step, cfg.batch_size).to(device)
        with torch.no_grad():
            latents = w_encoder.encode(x, generator=G)
        opt.zero_grad(set_to_none=True)
        stats = batch_step(model, G, x, latents, cfg, perceptual, identity=identity)
        if not all(math.isfinite(v) for v in stats.values()):
            raise ConfigError(f"training diverged at step {step} (loss {stats}); lower --lr")
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in stats.items()})
        if step % cfg.save_every == 0 or step == cfg.steps:
            save(latest)
    bar.close()
    final = out / f"iteration_{step}.pt"
    save(final)
    return final


def export_for_inference(checkpoint: Union[str, Path], dest: Union[str, Path]) -> Path:
    """The hypernetwork of a training checkpoint, without decoder and optimiser state (the
    authors' layout; the generator is named in ``opts['stylegan_weights']``): what ships."""
    from .loading import read_hyperstyle_file
    from ..checkpoints.rosinality import read_torch_file

    model, info = read_hyperstyle_file(checkpoint)
    keep = {k: v for k, v in info.opts.items() if k != "gani_bench_hypernet"}
    step = read_torch_file(checkpoint).get("global_step")
    return save_hyperstyle(model, dest, opts=keep, extra={"global_step": step})


def make_images(G: nn.Module, *, dataset: Optional[str], synthetic: Optional[int], seed: int, device: Device,
                generator_name: str = "") -> TrainImages:
    if (dataset is None) == (synthetic is None):
        raise ConfigError("give exactly one of dataset= (--dataset) or synthetic= (--synthetic N)")
    if synthetic is not None:
        return SyntheticImages(G, int(synthetic), seed, device)
    return DatasetImages(str(dataset), int(G.img_resolution), seed, generator_name=generator_name, device=device)


def preset(name: str, **overrides: Any) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError(f"preset {name!r}: use one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


__all__ = ["TrainConfig", "PRESETS", "preset", "train_hyperstyle", "batch_step", "build_model", "imagenet_init",
           "make_images", "export_for_inference", "OPTIMIZERS"]
