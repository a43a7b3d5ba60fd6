"""Named generators: ``load_generator("stylegan2-ffhq-1024")`` instead of a file path.

Each :class:`GeneratorEntry` says what the network is (resolution, number of style vectors,
domain) and how to obtain it: either a *builder* (the embedded, seeded, untrained 64 px
generator that makes every demo and test run offline) or a *weights* name from
:data:`gani_bench.weights.WEIGHTS`, fetched into the cache (``WeightsUnavailable``, one line
with the download command, when offline) and then read by the checkpoint loader. The entry's
resolution and ``num_ws`` are checked against the loaded network, so a registry mistake or a
wrong file cannot silently feed a 512 px car model into a face benchmark.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import torch

from .checkpoints.loader import GeneratorInfo, load_checkpoint_file
from .checkpoints.state import finalize, state_fingerprint
from .errors import CheckpointError, UnknownNameError
from .registry import Registry

Device = Union[str, torch.device]


def _num_ws(resolution: int) -> int:
    """Style vectors of a StyleGAN2 generator: two per block (conv0, conv1) plus the last ToRGB."""
    return 2 * (resolution.bit_length() - 1) - 2


@dataclass(frozen=True)
class GeneratorEntry:
    name: str
    description: str
    resolution: int
    domain: str
    weights: Optional[str] = None
    builder: Optional[Callable[[Device], torch.nn.Module]] = None

    @property
    def num_ws(self) -> int:
        return _num_ws(self.resolution)

    def __post_init__(self) -> None:
        if (self.weights is None) == (self.builder is None):
            raise ValueError(f"generator {self.name!r} needs exactly one of weights= or builder=")

    def load(self, device: Device = "cpu") -> Tuple[torch.nn.Module, GeneratorInfo]:
        if self.builder is not None:
            G = finalize(self.builder(device), device)
            info = GeneratorInfo(name=self.name, path=None, format="builtin", resolution=int(G.img_resolution),
                                 num_ws=int(G.num_ws), w_dim=int(G.w_dim), domain=self.domain,
                                 fingerprint=state_fingerprint(G), metadata={"description": self.description})
        else:
            from .weights import fetch

            local = fetch(self.weights)
            G, info = load_checkpoint_file(local.path, device, name=self.name, domain=self.domain)
            info.metadata.update(weights=self.weights, description=self.description)
        if (info.resolution, info.num_ws) != (self.resolution, self.num_ws):
            raise CheckpointError(
                f"{info.path or self.name}: generator {self.name!r} should be {self.resolution} px with {self.num_ws} "
                f"style vectors but the file holds {info.resolution} px / {info.num_ws}; the cached file is wrong: "
                f"delete it and run `gani-bench weights download {self.weights}`")
        return G, info


#: every named generator; ``embedded-64`` is the offline default of demos and tests
GENERATORS: Registry[GeneratorEntry] = Registry("generator")


def register(entry: GeneratorEntry) -> GeneratorEntry:
    return GENERATORS.add(entry.name, entry)


#: calibrated embedded-generator state per intra-op thread count (its calibration sums depend on it)
_EMBEDDED_STATES: dict = {}


def _embedded(device: Device) -> torch.nn.Module:
    """The embedded generator; its state is built once per process and thread count (building
    calibrates on 10k mapping and 256 synthesis samples: seconds per run otherwise)."""
    import copy

    from .stylegan2.embedded import EMBEDDED_KWARGS, build_embedded_generator
    from .stylegan2.networks import Generator

    key = torch.get_num_threads()
    if key not in _EMBEDDED_STATES:
        _EMBEDDED_STATES[key] = {k: v.clone() for k, v in build_embedded_generator(seed=0).state_dict().items()}
    with torch.random.fork_rng(devices=[]):  # the constructor's own draws must not leak out
        G = Generator(**copy.deepcopy(EMBEDDED_KWARGS))
    G.load_state_dict(_EMBEDDED_STATES[key])
    return G.eval().requires_grad_(False).to(device)


register(GeneratorEntry(
    "embedded-64", "seeded, UNTRAINED StyleGAN2 at 64 px (tests and demos; its images are not faces)",
    resolution=64, domain="synthetic", builder=_embedded))
register(GeneratorEntry(
    "stylegan2-ffhq-1024", "NVIDIA StyleGAN2 config-f, FFHQ faces 1024 px (NVIDIA pickle)",
    resolution=1024, domain="faces", weights="stylegan2-ffhq-1024"))
register(GeneratorEntry(
    "stylegan2-ffhq-1024-rosinality", "the same FFHQ network in rosinality's format (as e4e, PTI, HyperStyle use it)",
    resolution=1024, domain="faces", weights="stylegan2-ffhq-1024-rosinality"))
register(GeneratorEntry(
    "stylegan2-cars-512", "NVIDIA StyleGAN2 config-f, LSUN Car (512x384 content in a 512 px frame)",
    resolution=512, domain="cars", weights="stylegan2-cars-512"))
register(GeneratorEntry(
    "stylegan2-church-256", "NVIDIA StyleGAN2 config-f, LSUN Church 256 px",
    resolution=256, domain="churches", weights="stylegan2-church-256"))
register(GeneratorEntry(
    "stylegan2-horse-256", "NVIDIA StyleGAN2 config-f, LSUN Horse 256 px",
    resolution=256, domain="horses", weights="stylegan2-horse-256"))
for _animal in ("dog", "cat", "wild"):
    register(GeneratorEntry(
        f"stylegan2-afhq{_animal}-512", f"NVIDIA StyleGAN2-ADA, AFHQ {_animal} 512 px",
        resolution=512, domain=f"afhq-{_animal}", weights=f"stylegan2-afhq{_animal}-512"))

DEFAULT_GENERATOR = "embedded-64"


def load_generator(path_or_name: Union[str, Path], device: Device = "cpu") -> Tuple[torch.nn.Module, GeneratorInfo]:
    """A generator from a checkpoint path or a registered name; ``(G, GeneratorInfo)``.

    Lives here, above both the file formats (``checkpoints``) and the named entries, so neither
    of those modules needs the other. A path wins over a name of the same spelling. A missing
    file, a folder and an unknown name each get their own one-line error.
    """
    text = str(path_or_name)
    path = Path(path_or_name).expanduser()
    if path.is_file():
        return load_checkpoint_file(path, device)
    if text in GENERATORS:
        return GENERATORS.get(text).load(device)
    if path.exists():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file; give the .pkl/.pt/.safetensors file inside it")
    if _looks_like_path(text):
        raise CheckpointError(f"{text}: no such file; check the path, or give a registered generator name "
                              f"({', '.join(GENERATORS.names())})")
    names = ", ".join(GENERATORS.names())
    raise UnknownNameError(f"{text!r} is neither a checkpoint file nor a registered generator; registered generators: {names}; "
                           f"or give the path of a .pkl/.pt/.safetensors checkpoint")


_NAMED_LOADED: Dict[Tuple[str, str], Tuple[torch.nn.Module, GeneratorInfo]] = {}


def load_named_generator(name: str, device: Device = "cpu") -> Tuple[torch.nn.Module, GeneratorInfo]:
    """A registered generator, built or read once per process and device (inference only:
    gani-bench never mutates a loaded generator; methods apply weight deltas functionally).
    The demo encoders, the demo HyperStyle and training share it, so one process builds
    ``embedded-64`` once however many of them it loads."""
    key = (name, str(device))
    if key not in _NAMED_LOADED:
        _NAMED_LOADED[key] = GENERATORS.get(name).load(device)
    return _NAMED_LOADED[key]


def _looks_like_path(text: str) -> bool:
    """A name with a folder separator or a checkpoint suffix was meant as a file."""
    return "/" in text or "\\" in text or Path(text).suffix.lower() in (".pkl", ".pt", ".pth", ".safetensors", ".ckpt")


__all__ = ["GeneratorEntry", "GENERATORS", "DEFAULT_GENERATOR", "register", "load_generator", "load_named_generator"]
