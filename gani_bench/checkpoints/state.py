"""Turn a checkpoint's (constructor arguments, flat state dict) into a ready Generator.

Every checkpoint format ends in the same two steps, so they live here once: build our
NVIDIA-compatible :class:`~gani_bench.stylegan2.networks.Generator` from the recorded
constructor arguments, then copy the tensors in with *strict* name and shape checks. Strict
matters: a silently skipped tensor leaves a randomly initialised layer behind, and every number
measured on that generator would be wrong without any visible sign.
"""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Union

import torch

from ..errors import CheckpointError

StateDict = Dict[str, torch.Tensor]
#: how many offending names an error message lists before it says "and N more"
MAX_NAMES_IN_ERROR = 4


def _generator_class() -> type:
    # Imported lazily: the checkpoint readers (and their error paths) work without building nets.
    from ..stylegan2.networks import Generator

    return Generator


def name_list(names: Sequence[str], limit: int = MAX_NAMES_IN_ERROR) -> str:
    """``a, b, c and 5 more``: keeps an error message on one readable line."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def problem_list(groups: Mapping[str, Sequence[str]]) -> List[str]:
    """``"<label>: a, b and 3 more"`` for each non-empty group, in order (``{n}`` in a label
    becomes the group's size).

    Every checkpoint reader reports a state that does not fit its generator as one error line
    of such items joined by "; "; building the items here keeps those lines alike.
    """
    return [f"{label.format(n=len(names))}: {name_list(names)}" for label, names in groups.items() if names]


def plain(obj: Any) -> Any:
    """Recursively turn dict subclasses (EasyDict stand-ins, OrderedDict) into plain dicts/lists."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj) if isinstance(obj, tuple) else [plain(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # numpy / torch scalars
        return obj.item()
    return obj


def construct_generator(path: Union[str, Path], init_kwargs: Mapping[str, Any], init_args: Sequence[Any] = ()) -> torch.nn.Module:
    """Build an (uninitialised-weights) Generator from recorded constructor arguments.

    The arguments are bound against the constructor's signature first so that an argument our
    Generator does not know (a newer or forked NVIDIA network) is reported by name instead of
    surfacing as a TypeError deep inside ``__init__``.
    """
    cls = _generator_class()
    args, kwargs = tuple(plain(list(init_args))), plain(dict(init_kwargs))
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        raise CheckpointError(
            f"{path}: the recorded generator arguments do not fit gani-bench's StyleGAN2 Generator ({exc}); "
            f"the checkpoint comes from a different network family"
        ) from None
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError, KeyError, AssertionError) as exc:
        raise CheckpointError(
            f"{path}: cannot build a StyleGAN2 Generator from the recorded arguments {kwargs} ({type(exc).__name__}: {exc})"
        ) from None


def check_state_dict(path: Union[str, Path], expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]) -> None:
    """Raise one CheckpointError line naming the first missing, unexpected or mis-shaped tensors."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    misshaped = [
        f"{k} {tuple(got[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected
        if k in got and tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    problems = problem_list({
        "missing {n} tensor(s)": missing,
        "unexpected {n} tensor(s)": unexpected,
        "mis-shaped {n} tensor(s)": misshaped,
    })
    if problems:
        raise CheckpointError(
            f"{path}: the tensors do not fit the generator it describes: {'; '.join(problems)}; "
            f"the file is corrupt or was edited: use an unmodified checkpoint"
        )


def load_state_strict(path: Union[str, Path], G: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """Copy ``state`` into ``G`` after checking names and shapes; dtype is cast to G's."""
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {name_list(bad)}; the file is corrupt")
    check_state_dict(path, G.state_dict(), state)
    with torch.no_grad():
        G.load_state_dict(dict(state), strict=True)
    return G


def finalize(G: torch.nn.Module, device: Union[str, torch.device] = "cpu") -> torch.nn.Module:
    """Inference form: eval mode, no gradients on the weights, on ``device``."""
    return G.eval().requires_grad_(False).to(device)


def state_fingerprint(state: Union[torch.nn.Module, Mapping[str, torch.Tensor]]) -> str:
    """sha256 over the sorted (name, dtype, shape, bytes) of every tensor of a state dict.

    Identifies a *generator* independently of the file it came from, so weight deltas saved for
    the rosinality copy of a network apply to the NVIDIA copy of the same weights as well.
    """
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous().reshape(-1)
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def file_sha256(path: Union[str, Path], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()

