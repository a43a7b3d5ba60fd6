"""Copy exactly one member out of a tar or zip archive, refusing archives with unsafe paths.

Only the one member we need is read, and it is written to a path *we* choose, so an archive
can never place files elsewhere. An archive that names any absolute path or ``..`` component
is refused outright all the same: that is a sign of a tampered archive, not a packaging quirk.
"""
from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, Optional


class ArchiveError(Exception):
    """An archive is unreadable, unsafe or lacks the member (message: one line, no file name prefix)."""


def _is_unsafe(name: str) -> bool:
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in PurePosixPath(name).parts


def _refuse_unsafe(names: List[str], archive: Path) -> None:
    for name in names:
        if _is_unsafe(name):
            raise ArchiveError(f"{archive.name} holds an unsafe path {name!r} (absolute or with '..'); "
                               "refusing the archive")


def _matches(name: str, member: str) -> bool:
    """``member`` is the path inside the package; sdists put it under one top-level folder."""
    if name.startswith("./"):
        name = name[2:]
    if name == member:
        return True
    parts = name.split("/", 1)
    return len(parts) == 2 and parts[1] == member


def extract_member(archive: Path, member: str, dest: Path) -> None:
    """Write ``member`` of ``archive`` (tar of any compression, or zip/wheel) to ``dest``."""
    if tarfile.is_tarfile(archive):
        _extract_tar(archive, member, dest)
    elif zipfile.is_zipfile(archive):
        _extract_zip(archive, member, dest)
    else:
        raise ArchiveError(f"{archive.name} is neither a tar nor a zip archive")


def _extract_tar(archive: Path, member: str, dest: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            infos = tar.getmembers()
            _refuse_unsafe([info.name for info in infos], archive)
            found: Optional[tarfile.TarInfo] = next((i for i in infos if _matches(i.name, member)), None)
            if found is None:
                raise ArchiveError(f"{archive.name} holds no {member}")
            if not found.isreg():
                raise ArchiveError(f"{member} in {archive.name} is a link or special file, not a regular file; "
                                   "refusing it")
            src = tar.extractfile(found)
            assert src is not None
            with src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{archive.name} is not a readable tar archive ({exc})") from None


def _extract_zip(archive: Path, member: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _refuse_unsafe([info.filename for info in infos], archive)
            found = next((i for i in infos if _matches(i.filename, member)), None)
            if found is None:
                raise ArchiveError(f"{archive.name} holds no {member}")
            mode = found.external_attr >> 16
            if found.is_dir() or stat.S_ISLNK(mode):
                raise ArchiveError(f"{member} in {archive.name} is a link or folder, not a regular file; refusing it")
            with zf.open(found) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{archive.name} is not a readable zip archive ({exc})") from None
