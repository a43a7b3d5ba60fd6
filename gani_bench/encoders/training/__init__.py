"""Train pSp / e4e / ReStyle / W-encoders on any registered generator (``gani-bench train``)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Union

import torch

from ...errors import ConfigError, WeightsUnavailable
from .config import TrainConfig, preset
from .data import ImageSource, load_dataset_images
from .trainer import EncoderTrainer, encoder_config_for, init_trunk_from_arcface, latest_checkpoint

log = logging.getLogger(__name__)


def train_encoder(kind: str, generator: str, out: Union[str, Path], *, synthetic: Optional[int] = None,
                  dataset: Optional[str] = None, preset_name: str = "fast", steps: Optional[int] = None,
                  seed: int = 0, resume: bool = False, device: str = "cpu", progress: bool = True,
                  stop_after: Optional[int] = None, **overrides: Any) -> EncoderTrainer:
    """Build (or resume) a trainer and run it; returns the trainer (its model, history via run)."""
    from ...generators import GENERATORS
    from ...methods.losses import get_perceptual
    from ..kinds import ENCODER_KINDS
    from .losses import build_identity_loss

    ENCODER_KINDS.get(kind)
    if (synthetic is None) == (dataset is None):
        raise ConfigError("give exactly one of --synthetic N or --dataset D")
    if synthetic is not None and synthetic < 1:
        raise ConfigError(f"--synthetic must be a positive number of images, not {synthetic}")
    cfg = preset(preset_name, kind, steps).with_(seed=seed, **overrides)
    out = Path(out)
    ckpt = latest_checkpoint(out) if resume else None
    if resume and ckpt is None:
        raise ConfigError(f"--resume: no checkpoint under {out.name}/checkpoints; drop --resume to start a new run")
    if not resume and latest_checkpoint(out) is not None:
        raise ConfigError(f"--out {out.name} already holds a training run; add --resume to continue it or choose another --out")
    dev = torch.device(device)
    from ...generators import load_named_generator

    entry = GENERATORS.get(generator)
    G, g_info = load_named_generator(generator, dev)
    # ReStyle: inference runs as many iterations as training did (more diverge; the authors use 5 and 5)
    enc_cfg = encoder_config_for(G, kind, cfg.small_input_size).with_(n_iters=cfg.n_iters)
    if dataset is not None:
        source = ImageSource(enc_cfg.input_size, images=load_dataset_images(dataset, int(G.img_resolution), generator, dev))
    else:
        source = ImageSource(enc_cfg.input_size, G=G, synthetic=int(synthetic), seed=seed)
    lpips = None
    if cfg.lpips_weight > 0:
        try:
            lpips = get_perceptual(f"lpips_{cfg.lpips_net}", dev)
        except WeightsUnavailable as exc:
            raise WeightsUnavailable(f"{exc} (or train without LPIPS: --lpips-weight 0)") from None
    identity = build_identity_loss(entry.domain, dev) if cfg.id_weight > 0 else None
    trainer = EncoderTrainer(G, generator, enc_cfg, cfg, source, out, lpips=lpips, identity=identity, device=dev)
    if ckpt is not None:
        trainer.resume(ckpt)
    elif init_trunk_from_arcface(trainer.model):
        log.info("encoder trunk initialised from ArcFace IR-SE50 (as the authors do)")
    trainer.run(progress=progress, stop_after=stop_after)
    return trainer


__all__ = ["TrainConfig", "preset", "EncoderTrainer", "train_encoder", "ImageSource", "latest_checkpoint"]
