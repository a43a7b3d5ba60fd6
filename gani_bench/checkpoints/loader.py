"""``load_generator(path_or_name)``: one entry point for every generator gani-bench can use.

A *name* resolves through :data:`gani_bench.generators.GENERATORS` (the embedded generator, or
pretrained weights fetched into the cache); a *file* is identified by its first bytes, not by
its extension (a renamed ``.pkl`` still loads, a PNG named ``.pt`` gets a clear error), through
the :data:`FORMATS` registry of sniffers. Adding a format = registering one
:class:`CheckpointFormat`; nothing else changes.

Every generator comes back in inference form (eval mode, ``requires_grad=False``) together with
a :class:`GeneratorInfo` that records where it came from, including the file's sha256 and the
weights' fingerprint (sha256 over the tensors, see :func:`~.state.state_fingerprint`), which
weight-delta files use to refuse a wrong base generator.
"""
from __future__ import annotations

import io
import pickletools
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch

from ..errors import CheckpointError
from ..registry import Registry
from . import native, nvidia_pkl, nvidia_tf_pkl, rosinality
from .state import file_sha256, state_fingerprint

PathLike = Union[str, Path]
#: bytes read from the start of a file to identify its format
HEAD_BYTES = 512
#: a safetensors header larger than this is certainly not one (guards the length read)
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
#: first opcodes of the pickled magic number that starts torch's legacy (pre-1.6) format
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


@dataclass
class GeneratorInfo:
    """Where a loaded generator came from and its shape, for logs, results and deltas."""

    name: str
    path: Optional[Path]
    format: str
    resolution: int
    num_ws: int
    w_dim: int
    domain: str = "unknown"
    sha256: Optional[str] = None
    fingerprint: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "path": str(self.path) if self.path else None, "format": self.format,
                "resolution": self.resolution, "num_ws": self.num_ws, "w_dim": self.w_dim, "domain": self.domain,
                "sha256": self.sha256, "fingerprint": self.fingerprint}


Loader = Callable[[Path, Union[str, torch.device]], Tuple[torch.nn.Module, Dict[str, Any]]]


@dataclass(frozen=True)
class CheckpointFormat:
    """A file format: ``sniff(head_bytes)`` says whether a file is one, ``load`` reads it."""

    name: str
    description: str
    sniff: Callable[[bytes], bool]
    load: Loader


#: checkpoint formats, tried in registration order (most specific signature first)
FORMATS: Registry[CheckpointFormat] = Registry("checkpoint format")


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= MAX_SAFETENSORS_HEADER and head[8:9] == b"{"


def _is_torch_archive(head: bytes) -> bool:
    """A zip whose first member is ``<folder>/data.pkl`` (torch.save's layout), or legacy torch."""
    if head.startswith(TORCH_LEGACY_MAGIC):
        return True
    if not head.startswith(b"PK\x03\x04") or len(head) < 30:
        return False
    name_len = struct.unpack("<H", head[26:28])[0]
    name = head[30:30 + name_len]
    return name == b"data.pkl" or name.endswith(b"/data.pkl")


#: opcodes a protocol-0/1 pickle of a dict or of a call starts with: MARK, EMPTY_DICT, GLOBAL
_PROTOCOL0_FIRST = (b"(", b"}", b"c")


def _is_pickle(head: bytes) -> bool:
    """Protocol 2-5 header, or the first opcodes of a protocol-0/1 pickle (tampered ones use it)."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head[:1] not in _PROTOCOL0_FIRST:
        return False
    ops = 0
    try:
        for _ in pickletools.genops(io.BytesIO(head)):
            ops += 1
            if ops == 3:
                break
    except (ValueError, UnicodeDecodeError):
        pass  # the head cuts an opcode in half, or it is not a pickle at all
    return ops >= 3


FORMATS.add("safetensors", CheckpointFormat("safetensors", "gani-bench generator (.safetensors with metadata)", _is_safetensors, native.load_generator_file))
FORMATS.add("rosinality-pt", CheckpointFormat("rosinality-pt", "rosinality stylegan2-pytorch .pt (g_ema, latent_avg)", _is_torch_archive, rosinality.load_rosinality))
# the TF sniffer looks for the Network class as the stream's first global: before the generic pickle
FORMATS.add(nvidia_tf_pkl.FORMAT_NAME, CheckpointFormat(nvidia_tf_pkl.FORMAT_NAME, nvidia_tf_pkl.FORMAT_DESCRIPTION,
                                                         nvidia_tf_pkl.is_tf_pickle, nvidia_tf_pkl.load_nvidia_tf_pkl))
FORMATS.add("nvidia-pkl", CheckpointFormat("nvidia-pkl", "NVIDIA stylegan2-ada-pytorch / stylegan3 network pickle", _is_pickle, nvidia_pkl.load_nvidia_pkl))

#: what a file that is no checkpoint looks like, for the error message: (signature, description)
_KNOWN_NOT_CHECKPOINTS = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a zip archive that is not a torch checkpoint"),
    (b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (b"\x89HDF", "an HDF5 file"),
    (b"<", "an HTML/XML page (a failed download?)"),
)


def describe_unknown(head: bytes) -> str:
    if not head:
        return "an empty file"
    for magic, what in _KNOWN_NOT_CHECKPOINTS:
        if head.startswith(magic):
            return what
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "binary data of no known checkpoint format"


def sniff_format(path: PathLike) -> CheckpointFormat:
    """The registered format whose sniffer accepts the file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the file ({exc.strerror}); check the path and permissions") from None
    for _, fmt in FORMATS.items():
        if fmt.sniff(head):
            return fmt
    known = "; ".join(f.description for _, f in FORMATS.items())
    raise CheckpointError(f"{path}: {describe_unknown(head)}, not a generator checkpoint; gani-bench reads: {known}")


def load_checkpoint_file(path: PathLike, device: Union[str, torch.device] = "cpu", *, name: Optional[str] = None,
                         domain: str = "unknown") -> Tuple[torch.nn.Module, GeneratorInfo]:
    """Load a checkpoint file of any registered format."""
    path = Path(path)
    fmt = sniff_format(path)
    G, meta = fmt.load(path, device)
    info = GeneratorInfo(
        name=name or str(meta.get("name") or path.stem), path=path, format=fmt.name,
        resolution=int(G.img_resolution), num_ws=int(G.num_ws), w_dim=int(G.w_dim),
        domain=str(meta.get("domain") or domain), sha256=file_sha256(path), fingerprint=state_fingerprint(G),
        metadata=meta,
    )
    return G, info


__all__ = ["GeneratorInfo", "CheckpointFormat", "FORMATS", "load_checkpoint_file", "sniff_format"]
