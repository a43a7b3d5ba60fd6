"""The ``gani-bench`` command line: one click group, one module per command family.

Each family (``weights``, ``metrics``, ``methods``, ``run``/``report``/``check``/``datasets``)
lives in its own module and is attached here, so the CLI is a thin layer over the Python API.
Errors of the :class:`~gani_bench.errors.GaniBenchError` family print as one line and exit 2.
"""
from __future__ import annotations

import importlib
import sys
from typing import List

import click

from ..errors import GaniBenchError

#: (module, attribute) of each command or group attached to the main group
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gani-bench")
def cli() -> None:
    """gani-bench: GaNI and GAN-inversion baselines on StyleGAN2, benchmarked fairly."""


def _attach_commands() -> None:
    for module_name, attr in _COMMANDS:
        module = importlib.import_module(module_name)
        cli.add_command(getattr(module, attr))


def main(argv: List[str] | None = None) -> None:
    _attach_commands()
    try:
        exit_code = cli.main(args=argv, prog_name="gani-bench", standalone_mode=False)
    except GaniBenchError as exc:
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
