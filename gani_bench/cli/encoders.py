"""``gani-bench train KIND`` (encoder training) and ``gani-bench encoders list``.

A thin layer over :func:`gani_bench.encoders.training.train_encoder`; bad flags come back as one
:class:`~gani_bench.errors.GaniBenchError` line.
"""
from __future__ import annotations

from typing import Optional

import click

from ..encoders.kinds import ENCODER_KINDS


@click.command("train")
@click.argument("kind", type=click.Choice(ENCODER_KINDS.names()))
@click.option("--generator", "generator", required=True, help="registered generator name (e.g. embedded-64)")
@click.option("--dataset", default=None, help="gani-bench dataset name, manifest or image folder")
@click.option("--synthetic", type=int, default=None, help="train on N images the generator renders from seeded z")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="run directory (checkpoints, encoder.pt)")
@click.option("--preset", "preset_name", type=click.Choice(["fast", "paper"]), default="fast", show_default=True)
@click.option("--steps", type=int, default=None, help="training steps (preset default otherwise)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="continue from the newest checkpoint under --out")
@click.option("--batch-size", type=int, default=None)
@click.option("--lpips-weight", type=float, default=None, help="LPIPS-alex weight (authors: 0.8; 0 = off)")
@click.option("--id-weight", type=float, default=None, help="ArcFace ID weight (authors: 0.1; faces only)")
@click.option("--save-every", type=int, default=None, help="checkpoint interval in steps")
@click.option("--device", default="cpu", show_default=True)
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(kind: str, generator: str, dataset: Optional[str], synthetic: Optional[int], out: str, preset_name: str,
          steps: Optional[int], seed: int, resume: bool, batch_size: Optional[int], lpips_weight: Optional[float],
          id_weight: Optional[float], save_every: Optional[int], device: str, quiet: bool) -> None:
    """Train a pSp / e4e / ReStyle / W-encoder for a generator; writes OUT/encoder.pt (authors' layout)."""
    from ..encoders.training import train_encoder

    trainer = train_encoder(kind, generator, out, synthetic=synthetic, dataset=dataset, preset_name=preset_name,
                            steps=steps, seed=seed, resume=resume, device=device, progress=not quiet,
                            batch_size=batch_size, lpips_weight=lpips_weight, id_weight=id_weight, save_every=save_every)
    click.echo(f"{kind}: {trainer.step_count} steps; encoder written to {click.format_filename(out)}/encoder.pt")


@click.group("encoders")
def encoders() -> None:
    """Inversion encoders: the demo ones shipped with gani-bench and the released files."""


@encoders.command("list")
def list_encoders() -> None:
    """Named encoders usable with load_encoder(NAME)."""
    from ..encoders import DEMO_ENCODERS
    from ..weights import WEIGHTS

    for name, entry in DEMO_ENCODERS.items():
        click.echo(f"{name:28s} demo     {entry.description}")
    for name, spec in WEIGHTS.items():
        if spec.kind == "encoder":
            click.echo(f"{name:28s} download {spec.description}")
