"""gani-bench's own checkpoint format: safetensors files with a JSON metadata header.

Why safetensors rather than ``torch.save``:

* loading executes nothing: the file is a JSON header plus raw little-endian tensor bytes, so a
  generator or a set of weight deltas shared by someone else is as safe to open as an image;
* tensors are read zero-copy (memory-mapped) and can be loaded one by one;
* the header carries a ``str -> str`` metadata map, where we keep JSON: the generator's
  constructor arguments (so the file alone rebuilds the network), a format version and where
  the weights came from.

Two kinds of file, told apart by ``metadata["gani_bench.kind"]``:

``generator``
    every tensor of ``G.state_dict()`` plus ``init_kwargs``; :func:`load_generator_file`
    rebuilds the network with strict name/shape checks.
``weight-deltas``
    a tuned generator stored as ``theta' - theta`` keyed by ``G.named_parameters()`` names
    (the contract of :func:`gani_bench.stylegan2.functional.synthesize`), plus the *name* and
    the *fingerprint* of the base generator. Deltas are meaningless on any other base, and
    forgetting that is a classic silent error, so :func:`load_weight_deltas` refuses a base
    whose fingerprint differs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError
from .state import construct_generator, finalize, load_state_strict, name_list, plain, problem_list, state_fingerprint

FORMAT_VERSION = 1
KIND_KEY = "gani_bench.kind"
VERSION_KEY = "gani_bench.format_version"
KIND_GENERATOR = "generator"
KIND_DELTAS = "weight-deltas"

PathLike = Union[str, Path]


def _tensors_for_file(tensors: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    # safetensors wants contiguous CPU tensors that share no memory with one another.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def read_header(path: PathLike) -> Tuple[Dict[str, str], Dict[str, Tuple[int, ...]]]:
    """The metadata map and the tensor shapes, read from the header only (no tensor bytes)."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]}); the file is truncated or corrupt: write or download it again") from None
    return meta, shapes


def _read_tensors(path: PathLike) -> Dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot read the tensors ({str(exc).splitlines()[0]}); the file is truncated or corrupt") from None


def _json_field(path: PathLike, meta: Mapping[str, str], key: str) -> Any:
    try:
        return json.loads(meta[key])
    except KeyError:
        raise CheckpointError(f"{path}: the metadata has no {key!r}; it was not written by gani-bench") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: metadata field {key!r} is not valid JSON ({exc}); the file is corrupt") from None


def _expect_kind(path: PathLike, meta: Mapping[str, str], kind: str) -> None:
    got = meta.get(KIND_KEY)
    if got is None:
        raise CheckpointError(f"{path}: a safetensors file without gani-bench metadata ({KIND_KEY!r} missing); save generators with gani_bench.checkpoints.native.save_generator")
    if got != kind:
        hint = ("load the base generator and apply these with load_weight_deltas" if got == KIND_DELTAS
                else "load it with load_generator")
        raise CheckpointError(f"{path}: holds gani-bench {got!r}, not {kind!r}; {hint}")
    version = meta.get(VERSION_KEY, "?")
    if version != str(FORMAT_VERSION):
        raise CheckpointError(f"{path}: gani-bench format version {version}, this gani-bench reads version {FORMAT_VERSION}; upgrade gani-bench")


def save_generator(G: torch.nn.Module, path: PathLike, info: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``G`` (all state-dict tensors + constructor arguments) to ``path``.

    ``info`` is free JSON-able provenance (name, origin URL, the file it was converted from...).
    """
    init_kwargs = getattr(G, "init_kwargs", None)
    if not isinstance(init_kwargs, Mapping):
        raise CheckpointError(f"{path}: the generator has no init_kwargs; only gani-bench / NVIDIA-compatible Generators can be saved")
    path = Path(path)
    meta = {
        KIND_KEY: KIND_GENERATOR,
        VERSION_KEY: str(FORMAT_VERSION),
        "init_kwargs": json.dumps(plain(dict(init_kwargs)), sort_keys=True),
        "info": json.dumps(plain(dict(info or {})), sort_keys=True, default=str),
        "fingerprint": state_fingerprint(G),
    }
    save_file(_tensors_for_file(G.state_dict()), str(path), metadata=meta)
    return path


def load_generator_file(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Rebuild a generator saved by :func:`save_generator`; returns ``(G, info)``."""
    meta, _ = read_header(path)
    _expect_kind(path, meta, KIND_GENERATOR)
    init_kwargs = _json_field(path, meta, "init_kwargs")
    info = _json_field(path, meta, "info") if "info" in meta else {}
    G = construct_generator(path, init_kwargs)
    load_state_strict(path, G, _read_tensors(path))
    if "fingerprint" in meta and state_fingerprint(G) != meta["fingerprint"]:
        raise CheckpointError(f"{path}: the tensors do not match the fingerprint recorded at save time; the file was altered: write it again")
    return finalize(G, device), {"init_kwargs": init_kwargs, **dict(info)}


def _base_ref(base_info: Any) -> Tuple[str, str]:
    """(name, fingerprint) from a GeneratorInfo-like object or a mapping."""
    get = base_info.get if isinstance(base_info, Mapping) else (lambda k: getattr(base_info, k, None))
    name, fingerprint = get("name"), get("fingerprint")
    if not name or not fingerprint:
        raise CheckpointError("weight deltas need the base generator's name and fingerprint (pass the GeneratorInfo returned by load_generator)")
    return str(name), str(fingerprint)


def save_weight_deltas(deltas: Mapping[str, torch.Tensor], path: PathLike, base_info: Any,
                       info: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``deltas`` (``theta' - theta`` by parameter name) tied to their base generator.

    ``base_info`` is the :class:`~gani_bench.checkpoints.loader.GeneratorInfo` of the base (or
    a mapping with ``name`` and ``fingerprint``); ``info`` is free JSON-able provenance
    (method, config, target image...).
    """
    name, fingerprint = _base_ref(base_info)
    bad = [k for k, v in deltas.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: weight deltas must be tensors; not tensors: {name_list(bad)}")
    path = Path(path)
    meta = {
        KIND_KEY: KIND_DELTAS,
        VERSION_KEY: str(FORMAT_VERSION),
        "base_name": name,
        "base_fingerprint": fingerprint,
        "info": json.dumps(plain(dict(info or {})), sort_keys=True, default=str),
    }
    save_file(_tensors_for_file(deltas), str(path), metadata=meta)
    return path


def load_weight_deltas(path: PathLike, G: torch.nn.Module, *, fingerprint: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """Read deltas saved by :func:`save_weight_deltas`, checked against the base ``G``.

    The fingerprint of ``G`` (sha256 over its tensors; pass ``fingerprint`` when already known,
    e.g. ``GeneratorInfo.fingerprint``) must equal the recorded base fingerprint, and every
    delta must name a parameter of ``G`` with the same shape. Tensors come back on ``G``'s device.
    """
    meta, shapes = read_header(path)
    _expect_kind(path, meta, KIND_DELTAS)
    base_name = meta.get("base_name", "?")
    recorded = meta.get("base_fingerprint")
    actual = fingerprint or state_fingerprint(G)
    if recorded != actual:
        raise CheckpointError(
            f"{path}: these weight deltas belong to generator {base_name!r} (fingerprint {str(recorded)[:12]}), "
            f"but the given generator's fingerprint is {actual[:12]}; load {base_name!r} and apply them to it"
        )
    params = dict(G.named_parameters())
    unknown = [k for k in shapes if k not in params]
    misshaped = [f"{k} {shapes[k]} != {tuple(params[k].shape)}" for k in shapes if k in params and shapes[k] != tuple(params[k].shape)]
    problems = problem_list({"not parameters of the generator": unknown, "mis-shaped": misshaped})
    if problems:
        raise CheckpointError(f"{path}: weight deltas do not fit {base_name!r}: {'; '.join(problems)}; the file is corrupt")
    device = next(iter(params.values())).device if params else torch.device("cpu")
    return {k: v.to(device=device, dtype=params[k].dtype) for k, v in _read_tensors(path).items()}


def read_delta_info(path: PathLike) -> Dict[str, Any]:
    """Base name, fingerprint and provenance of a deltas file, from its header only."""
    meta, shapes = read_header(path)
    _expect_kind(path, meta, KIND_DELTAS)
    return {"base_name": meta.get("base_name"), "base_fingerprint": meta.get("base_fingerprint"),
            "info": _json_field(path, meta, "info"), "tensors": sorted(shapes)}
