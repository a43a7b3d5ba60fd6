"""Read NVIDIA stylegan2-ada-pytorch ``.pkl`` snapshots without executing anything from them.

Why a restricted unpickler: NVIDIA's snapshots are pickles of ``torch_utils.persistence``
objects, and unpickling them the normal way *executes the Python source stored inside the file*
(``exec(module_src)``), besides whatever a tampered pickle asks ``REDUCE`` to call. A checkpoint
downloaded from the internet must never be able to run code, so :class:`SafeUnpickler` resolves
only the handful of globals a genuine snapshot contains, each to a harmless stand-in:

=================================================  =============================================
global in the pickle                               what we call instead
=================================================  =============================================
``torch_utils.persistence._reconstruct_persistent_obj``  :class:`PersistentRecord` (class name +
                                                   state; ``module_src`` is hashed, never run)
``torch.storage._load_from_bytes``                 ``torch.load(bytes, weights_only=True)``
``torch._utils._rebuild_tensor_v2`` /              torch's rebuilders, after checking that the
``_rebuild_parameter``                             arguments are storages/tensors and hook-free
``collections.OrderedDict``, ``builtins.set``      themselves (containers, nothing callable)
``dnnlib.util.EasyDict``                           ``dict``
``numpy.(_)core.multiarray.scalar`` / ``_reconstruct``, ``numpy.dtype``, ``numpy.ndarray``
                                                   numpy's constructors (non-object dtypes only)
``_codecs.encode`` (protocol-2 bytes)              ``str.encode('latin1')`` only
=================================================  =============================================

Any other global (``posix.system``, ``builtins.eval``, ``subprocess.Popen``...) stops the load
with a one-line :class:`~gani_bench.errors.CheckpointError` *before* it could be called.

The set above is what NVIDIA's own code writes: a tiny Generator pickled by stylegan2-ada-pytorch
(``copy.deepcopy(G).eval().requires_grad_(False)`` as in its training loop) with protocol 3
(Python 3.7's default, used for the released FFHQ pickles) asks for exactly ``builtins.set,
collections.OrderedDict, dnnlib.util.EasyDict, numpy._core.multiarray.scalar, numpy.dtype,
torch._utils._rebuild_parameter, torch._utils._rebuild_tensor_v2,
torch.storage._load_from_bytes, torch_utils.persistence._reconstruct_persistent_obj``; protocol
4 additionally drops ``builtins.set``/``EasyDict`` and protocol 2 adds ``_codecs.encode``.

After unpickling, the Generator record (``G_ema``, else ``G``) is flattened by walking
``_parameters`` / ``_buffers`` / ``_modules`` into the usual state-dict names
(``mapping.fc0.weight``, ``synthesis.b8.conv0.weight``...), and its recorded ``init_kwargs``
build our own :class:`~gani_bench.stylegan2.networks.Generator`, which shares NVIDIA's names.
"""
from __future__ import annotations

import collections
import hashlib
import io
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch

try:  # numpy >= 2 moved the core extension; the old name still pickles but warns on access
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import scalar as _np_scalar

from ..errors import CheckpointError
from .state import construct_generator, finalize, load_state_strict, plain

#: the ``version`` field torch_utils.persistence writes (stylegan2-ada-pytorch and stylegan3)
PERSISTENCE_VERSION = 6
#: preference order of the networks inside a snapshot: the EMA generator is the one to evaluate
GENERATOR_KEYS = ("G_ema", "G")
#: NVIDIA ``Generator`` arguments in positional order (stylegan2-ada-pytorch); the stylegan3
#: repository's StyleGAN2 Generator takes the synthesis arguments as ``**synthesis_kwargs``
#: instead, so any other recorded argument is folded into ``synthesis_kwargs``
GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
#: switches of NVIDIA's code that change speed only, never the numbers; dropped on load
SPEED_ONLY_KWARGS = frozenset({"fused_modconv_default"})
#: class names that exist only in StyleGAN3's (alias-free) synthesis network
STYLEGAN3_CLASSES = frozenset({"SynthesisInput"})


@dataclass
class PersistentRecord:
    """Inert stand-in for a ``torch_utils.persistence`` object: its class name and ``__dict__``.

    ``module_src`` (the network's Python source carried in the pickle) is kept only as a
    sha256, for diagnostics; it is never compiled.
    """

    class_name: str
    state: Dict[str, Any]
    version: int = PERSISTENCE_VERSION
    module_src_sha256: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    def submodules(self) -> Dict[str, Optional["PersistentRecord"]]:
        return dict(self.state.get("_modules") or {})


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, Mapping) or meta.get("type") != "class" or not isinstance(meta.get("state"), Mapping):
        raise pickle.UnpicklingError("persistent object without the expected meta fields (type='class', state)")
    src = meta.get("module_src") or ""
    return PersistentRecord(
        class_name=str(meta.get("class_name")),
        state=dict(meta["state"]),
        version=int(meta.get("version", -1)),
        module_src_sha256=hashlib.sha256(src.encode() if isinstance(src, str) else bytes(src)).hexdigest(),
    )


def _load_storage_from_bytes(b: bytes) -> Any:
    """torch's storage pickling (``torch.save`` bytes) read with the weights-only unpickler."""
    if not isinstance(b, (bytes, bytearray)):
        raise pickle.UnpicklingError("storage payload is not bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TypedStorage deprecation notices, nothing actionable
            storage = torch.load(io.BytesIO(bytes(b)), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        # torch's own message suggests weights_only=False, which is exactly what must not happen here
        m = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if m:
            raise UnsafeGlobal(f"{m.group(1)} (inside a tensor's storage bytes)") from None
        raise pickle.UnpicklingError("a tensor's storage bytes are not a torch storage") from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"storage payload holds a {type(storage).__name__}, not a storage")
    return storage


def _no_hooks(hooks: Any) -> None:
    if hooks:  # hooks are callables; a checkpoint has no business carrying any
        raise pickle.UnpicklingError("tensor carries backward hooks")


def _rebuild_tensor_v2(storage: Any, offset: int, size: Any, stride: Any, requires_grad: bool = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError("tensor rebuilt from something that is not a storage")
    _no_hooks(backward_hooks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch._utils._rebuild_tensor_v2(storage, offset, tuple(size), tuple(stride), bool(requires_grad),
                                               collections.OrderedDict(), metadata)


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None, *state: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter rebuilt from something that is not a tensor")
    _no_hooks(backward_hooks)
    if state and any(state):
        raise pickle.UnpicklingError("parameter carries extra Python state")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of object dtype")
    return _np_scalar(dtype, data) if data is not None else _np_scalar(dtype)


def _numpy_reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("numpy array of a subclass")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _latin1_encode(text: Any, encoding: str = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode used for something other than protocol-2 bytes")
    return text.encode("latin1")


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")

#: (module, name) -> the harmless callable/type the unpickler hands back for it
ALLOWED_GLOBALS: Dict[Tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1_encode,
    ("dnnlib.util", "EasyDict"): dict,
    ("dnnlib", "EasyDict"): dict,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{(m, "scalar"): _numpy_scalar for m in _NUMPY_CORE},
    **{(m, "_reconstruct"): _numpy_reconstruct for m in _NUMPY_CORE},
}


class UnsafeGlobal(pickle.UnpicklingError):
    """Raised inside the unpickler; turned into a CheckpointError naming the file."""

    def __init__(self, qualname: str) -> None:
        super().__init__(qualname)
        self.qualname = qualname


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only :data:`ALLOWED_GLOBALS` and has no persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        # Only torch.save's own (legacy) format uses persistent ids; NVIDIA snapshots never do.
        raise UnsafeGlobal(f"persistent id {str(pid)[:40]!r} (a torch.save file, not an NVIDIA pickle)")


def refusal(path: Union[str, Path], qualname: str) -> CheckpointError:
    return CheckpointError(
        f"{path}: refusing to load: the pickle asks for {qualname}, which a StyleGAN2 checkpoint never contains "
        f"(it may execute code); load only checkpoints from their official source, and if this file is one, "
        f"report the name to gani-bench"
    )


def read_snapshot(path: Union[str, Path]) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`; every failure is one CheckpointError line."""
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f).load()
    except UnsafeGlobal as exc:
        raise refusal(path, exc.qualname) from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, AttributeError,
            KeyError, RuntimeError, MemoryError, UnicodeDecodeError, OverflowError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, EOFError) or "truncated" in detail or "ran out of input" in detail.lower():
            raise CheckpointError(f"{path}: the pickle ends early ({detail or 'truncated'}); the file is truncated: download it again") from None
        raise CheckpointError(f"{path}: not a readable StyleGAN2 pickle ({type(exc).__name__}: {detail}); the file is corrupt or of another format") from None


def flatten_record(record: PersistentRecord, prefix: str = "") -> Dict[str, torch.Tensor]:
    """State-dict view of a record: parameters, then persistent buffers, then sub-modules."""
    out: Dict[str, torch.Tensor] = {}
    state = record.state
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for kind in ("_parameters", "_buffers"):
        for name, tensor in (state.get(kind) or {}).items():
            if tensor is None or (kind == "_buffers" and name in skip):
                continue
            out[prefix + name] = tensor.detach() if isinstance(tensor, torch.Tensor) else tensor
    for name, sub in record.submodules().items():
        if sub is None:
            continue
        if not isinstance(sub, PersistentRecord):
            raise CheckpointError(f"sub-module {prefix + name!r} is a {type(sub).__name__}, not a persistent network")
        out.update(flatten_record(sub, prefix + name + "."))
    return out


def _walk(record: PersistentRecord):
    yield record
    for sub in record.submodules().values():
        if isinstance(sub, PersistentRecord):
            yield from _walk(sub)


def select_generator(path: Union[str, Path], snapshot: Any) -> Tuple[str, PersistentRecord]:
    """The network to evaluate: ``G_ema`` if present, else ``G``, checked to be a StyleGAN2 one."""
    if not isinstance(snapshot, Mapping):
        raise CheckpointError(f"{path}: the pickle holds a {type(snapshot).__name__}, not an NVIDIA snapshot dict with 'G_ema'; use a stylegan2-ada-pytorch network pickle")
    for key in GENERATOR_KEYS:
        rec = snapshot.get(key)
        if isinstance(rec, PersistentRecord):
            break
    else:
        raise CheckpointError(f"{path}: the pickle has no generator (keys: {', '.join(map(str, snapshot))}); expected 'G_ema' or 'G' as in stylegan2-ada-pytorch snapshots")
    if rec.version != PERSISTENCE_VERSION:
        raise CheckpointError(f"{path}: persistence format version {rec.version}, expected {PERSISTENCE_VERSION}; re-save it with stylegan2-ada-pytorch")
    names = {r.class_name for r in _walk(rec)}
    if names & STYLEGAN3_CLASSES:
        raise CheckpointError(f"{path}: this is a StyleGAN3 (alias-free) generator; gani-bench supports StyleGAN2 synthesis only (StyleGAN3's mapping is compatible, its synthesis is not implemented yet)")
    if rec.class_name != "Generator" or "mapping" not in rec.submodules() or "synthesis" not in rec.submodules():
        raise CheckpointError(f"{path}: {key} is a {rec.class_name} without mapping/synthesis networks, not a StyleGAN2 Generator")
    return key, rec


@dataclass
class NvidiaSnapshot:
    """What :func:`read_generator_record` extracts: enough to build the network, nothing live."""

    key: str
    init_args: Tuple[Any, ...]
    init_kwargs: Dict[str, Any]
    state_dict: Dict[str, torch.Tensor]
    module_src_sha256: str
    extra: Dict[str, Any]


def normalize_init_kwargs(args: Any, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """One keyword-only form of the recorded constructor call, in stylegan2-ada-pytorch's layout."""
    out = dict(zip(GENERATOR_ARGS, plain(list(args))))
    out.update(plain(dict(kwargs)))
    synthesis = dict(out.pop("synthesis_kwargs", None) or {})
    for name in [k for k in out if k not in GENERATOR_ARGS]:
        synthesis[name] = out.pop(name)
    for name in SPEED_ONLY_KWARGS:
        synthesis.pop(name, None)
    out["synthesis_kwargs"] = synthesis
    out.setdefault("mapping_kwargs", {})
    return out


def read_generator_record(path: Union[str, Path], snapshot: Any = None) -> NvidiaSnapshot:
    """The generator of a PyTorch snapshot as constructor arguments + flat state dict."""
    snapshot = read_snapshot(path) if snapshot is None else snapshot
    key, rec = select_generator(path, snapshot)
    try:
        state = flatten_record(rec)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    kwargs = rec.state.get("_init_kwargs")
    if not isinstance(kwargs, Mapping):
        raise CheckpointError(f"{path}: {key} has no recorded init_kwargs; it was not saved by torch_utils.persistence")
    if len(rec.state.get("_init_args") or ()) > len(GENERATOR_ARGS):
        raise CheckpointError(f"{path}: {key} was built with {len(rec.state['_init_args'])} positional arguments; not a StyleGAN2 Generator")
    extra = {k: plain(v) for k, v in snapshot.items() if k == "training_set_kwargs" and isinstance(v, Mapping)}
    return NvidiaSnapshot(key=key, init_args=(), init_kwargs=normalize_init_kwargs(rec.state.get("_init_args") or (), kwargs),
                          state_dict=state, module_src_sha256=rec.module_src_sha256, extra=extra)


def load_nvidia_pkl(path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Build our Generator from an NVIDIA PyTorch snapshot; returns ``(G, metadata)``."""
    snap = read_generator_record(path)
    G = construct_generator(path, snap.init_kwargs, snap.init_args)
    load_state_strict(path, G, snap.state_dict)
    meta = {"network_key": snap.key, "init_kwargs": snap.init_kwargs, **snap.extra}
    return finalize(G, device), meta
