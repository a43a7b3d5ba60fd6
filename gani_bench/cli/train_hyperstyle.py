"""``gani-bench train hyperstyle``: train a HyperStyle hypernetwork on a generator.

Exposes the click command ``hyperstyle``; the ``train`` group (gani_bench/cli, encoders'
family) attaches it. A thin layer over :func:`gani_bench.hyperstyle.training.train_hyperstyle`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import ConfigError


@click.command("hyperstyle")
@click.option("--generator", "generator", required=True, help="Generator name or checkpoint (e.g. embedded-64).")
@click.option("--w-encoder", "w_encoder", required=True, help="W-encoder name or file (its latents stay fixed; e.g. embedded-64-w_encoder).")
@click.option("--dataset", default=None, help="Dataset name, manifest or image folder to train on.")
@click.option("--synthetic", type=int, default=None, help="Train on N images the generator renders from seeded z.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run folder (checkpoints/; resumed if present).")
@click.option("--preset", default="fast", type=click.Choice(["fast", "paper"]), show_default=True,
              help="fast: small layout for a CPU; paper: the authors' layout and schedule.")
@click.option("--steps", type=int, default=None, help="Optimiser steps (overrides the preset).")
@click.option("--batch-size", type=int, default=None, help="Images per step (overrides the preset).")
@click.option("--n-iters", type=int, default=None, help="Refinement iterations per batch (overrides the preset).")
@click.option("--lr", type=float, default=None, help="Learning rate (authors: 1e-4).")
@click.option("--optimizer", type=click.Choice(["ranger", "adam"]), default=None, help="Authors' default: ranger.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initialisation and the data order.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--export", "export", default=None, type=click.Path(dir_okay=False),
              help="Also write the trained hypernetwork alone (no decoder, no optimiser state) to this file.")
def hyperstyle(generator: str, w_encoder: str, dataset: Optional[str], synthetic: Optional[int], out_dir: str, preset: str,
               steps: Optional[int], batch_size: Optional[int], n_iters: Optional[int], lr: Optional[float],
               optimizer: Optional[str], seed: int, device: str, no_progress: bool, export: Optional[str]) -> None:
    """Train HyperStyle's hypernetwork (L2 + LPIPS-alex 0.8, Ranger 1e-4, iterations per batch)."""
    from ..generators import load_generator
    from ..cli.harness import setup_logging
    from ..encoders import check_encoder_generator, load_encoder
    from ..hyperstyle import training

    setup_logging()
    if (dataset is None) == (synthetic is None):
        raise ConfigError("give exactly one of --dataset D or --synthetic N")
    if synthetic is not None and synthetic < 1:
        raise ConfigError(f"--synthetic {synthetic}: give at least 1 image")
    cfg = training.preset(preset, steps=steps, batch_size=batch_size, n_iters=n_iters, lr=lr, optimizer=optimizer, seed=seed)
    G, g_info = load_generator(generator, device)
    enc, info = load_encoder(w_encoder, device)
    check_encoder_generator(info, G, generator)
    images = training.make_images(G, dataset=dataset, synthetic=synthetic, seed=seed, device=device, generator_name=generator)
    final = training.train_hyperstyle(G, enc, out_dir, images=images, config=cfg, device=device, progress=not no_progress,
                                      generator_name=generator, w_encoder_name=w_encoder, domain=g_info.domain)
    click.echo(f"wrote {Path(out_dir).name}/checkpoints/{final.name}")
    if export:
        click.echo(f"wrote {training.export_for_inference(final, export).name}")
