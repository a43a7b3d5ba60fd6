"""One exception family for everything a user can get wrong.

Every error gani-bench raises on bad input is a :class:`GaniBenchError` whose message is one
line naming the file (or name) involved and the fix. The CLI prints exactly that line and
exits non-zero, so nothing of a traceback hides the fix from the user.
"""
from __future__ import annotations


class GaniBenchError(Exception):
    """Base class: a one-line, user-facing message that says what is wrong and how to fix it."""


class UnknownNameError(GaniBenchError, KeyError):
    """A registry was asked for a name it does not hold (method, metric, dataset, weights...)."""

    def __str__(self) -> str:  # KeyError would repr() the message; keep it one plain line
        return str(self.args[0]) if self.args else ""


class CheckpointError(GaniBenchError):
    """A checkpoint file is unsafe, truncated, of an unknown format or does not fit the network."""


class WeightsUnavailable(GaniBenchError):
    """Pretrained weights are not in the cache and cannot be fetched (offline, failed download)."""


class ChecksumMismatch(GaniBenchError):
    """A downloaded or cached file does not match its recorded sha256."""


class DatasetError(GaniBenchError):
    """A dataset manifest or image folder is missing, malformed or inconsistent."""


class ImageError(GaniBenchError):
    """One image cannot be used (corrupt, tiny, wrong aspect...): it is skipped, never fatal."""


class ConfigError(GaniBenchError):
    """A config override names an unknown field or has a value of the wrong type."""
