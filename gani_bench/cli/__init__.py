"""The ``gani-bench`` command line: one click group, one module per command family.

Each family (``weights``, ``metrics``, ``methods``, ``run``/``report``/``check``/``datasets``)
lives in its own module and is attached here, so the CLI is a thin layer over the Python API.

Two things are done once, here, for every command:

* Lazy loading. A command's module (and with it torch, 1.5 s of import) is imported only when
  that command runs; ``gani-bench --help`` lists the commands from :data:`_SUMMARIES` without
  importing any of them. A command missing from :data:`_SUMMARIES` still works: it is
  imported to read its help.
* Errors. A :class:`~gani_bench.errors.GaniBenchError` prints as one line (``error: ...``) and
  exits 2, and the code below speaks CLI vocabulary (``--out``, not ``out=``) through
  :func:`gani_bench.interface.cli_vocabulary`.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any, Dict, List, Optional

import click

from ..errors import GaniBenchError
from ..interface import cli_vocabulary

#: (module, attribute) of each command or group attached to the main group; the attribute is the
#: command's name
_COMMANDS: List[tuple] = [
    ("gani_bench.cli.weights", "weights"),
    ("gani_bench.cli.metrics", "metrics"),
    ("gani_bench.cli.methods", "methods"),
    ("gani_bench.cli.harness", "run"),
    ("gani_bench.cli.harness", "report"),
    ("gani_bench.cli.harness", "check"),
    ("gani_bench.cli.harness", "datasets"),
    ("gani_bench.cli.encoders", "train"),
    ("gani_bench.cli.encoders", "encoders"),
]

#: one-line help shown by ``gani-bench --help`` without importing the command's module
_SUMMARIES: Dict[str, str] = {
    "run": "Invert a dataset with one or more methods; resumable.",
    "report": "Tables, HTML page, grids and plots of run directories.",
    "check": "Re-run the reference configuration and compare (CI gate).",
    "methods": "Inversion methods: fields, defaults, presets.",
    "metrics": "Metrics: direction, kind, whether their weights are present.",
    "weights": "Pretrained weights: list, download, verify.",
    "datasets": "List datasets, or prepare one from your download.",
    "train": "Train an encoder (pSp, e4e, ReStyle, W-encoder) or HyperStyle for a generator.",
    "encoders": "Inversion encoders: the demo ones shipped and the released files.",
}


class _LazyGroup(click.Group):
    """A group that imports a command's module only when the command is run (or asked for help)."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(super().list_commands(ctx)) | {attr for _, attr in _COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        known = super().get_command(ctx, cmd_name)
        if known is not None:
            return known
        for module_name, attr in _COMMANDS:
            if attr == cmd_name:
                command = getattr(importlib.import_module(module_name), attr)
                self.add_command(command, cmd_name)
                return command
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            summary = _SUMMARIES.get(name)
            if summary is None:
                command = self.get_command(ctx, name)
                summary = command.get_short_help_str(formatter.width) if command is not None else ""
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        with cli_vocabulary():
            try:
                return super().invoke(ctx)
            except GaniBenchError as exc:
                click.echo(f"error: {exc}", err=True)
                ctx.exit(2)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gani-bench")
def cli() -> None:
    """gani-bench: GaNI and GAN-inversion baselines on StyleGAN2, benchmarked fairly."""


def main(argv: List[str] | None = None) -> None:
    try:
        exit_code = cli.main(args=argv, prog_name="gani-bench", standalone_mode=False)
    except GaniBenchError as exc:  # raised outside a command (should not happen; kept one line)
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    # standalone_mode=False hands back ctx.exit(code) as a return value instead of exiting
    if isinstance(exit_code, int) and exit_code != 0:
        sys.exit(exit_code)
