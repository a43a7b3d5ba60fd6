"""Model files that ship inside the package (the demo encoders and the demo HyperStyle).

One place answers "where is the shipped file, and what if the install lost it": a wheel built
without its package data is the one way such a file goes missing, and the fix is the same for
every shipped model (reinstall, or re-make it with the recorded training command).
"""
from __future__ import annotations

from contextlib import contextmanager
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Iterator

from .errors import WeightsUnavailable

#: shipped model files live in a ``demo/`` folder of their package
SHIPPED_FOLDER = "demo"


def shipped_resource(package: str, file: str) -> Traversable:
    """The package resource ``<package>/demo/<file>`` (it may be inside a zip)."""
    return resources.files(package).joinpath(SHIPPED_FOLDER, file)


@contextmanager
def shipped_file(package: str, file: str, *, what: str, command: str) -> Iterator[Path]:
    """A real path to a shipped model file for the duration of the ``with`` block.

    ``what`` names the model in the error (e.g. ``demo encoder 'embedded-64-e4e'``) and
    ``command`` is the recorded command that re-makes the file.
    """
    res = shipped_resource(package, file)
    if not res.is_file():
        raise WeightsUnavailable(f"{what}: its file {SHIPPED_FOLDER}/{file} is missing from the installed package; "
                                 f"reinstall gani-bench or recreate it with `{command}`")
    with resources.as_file(res) as path:
        yield path
