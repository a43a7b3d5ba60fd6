"""Latent edit directions (InterFaceGAN, GANSpace) and the :class:`Edit` objects that apply them.

An edit is a function on W+ latents ``[N, num_ws, w_dim] -> [N, num_ws, w_dim]``. Edit-fidelity
metrics apply the *same* edit to a method's pivot latents and render it through the tuned and
the original generator, so the edit objects must be pure latent arithmetic (no generator inside)
and, for LEC, know their inverse where one exists.

File formats (the files shipped by omertov/encoder4editing and danielroich/PTI):

* InterFaceGAN: a tensor ``[1, 512]`` (``age``, ``smile``, ``rotation``) or ``[1, 18, 512]``
  (``pose``: one direction per style layer). Many were saved from CUDA tensors, so they are
  loaded with ``map_location="cpu"`` and, as every file here, ``weights_only=True``.
* GANSpace PCA: a dict ``{mean [1, 512], comp [K, 1, 512], std [K]}`` (K = 80); ``comp`` rows
  are unit vectors in W, ``std`` the standard deviation of W along each of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch

from ..errors import CheckpointError

PathLike = Union[str, Path]


# --------------------------------------------------------------------------------------------
# Loading


def _load_tensor_file(path: PathLike) -> object:
    """``torch.load`` restricted to tensors/containers; any failure becomes one clear line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"edit direction file {path} does not exist; download it with `gani-bench weights download`")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated zip, a pickle with foreign globals, ...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"edit direction file {path} is not a tensor file torch can load safely ({first_line}); "
            "re-download it or pass a file saved with torch.save(tensor)"
        ) from None


def load_interfacegan_direction(path: PathLike) -> torch.Tensor:
    """Load an InterFaceGAN direction as ``[w_dim]`` (one for all layers) or ``[L, w_dim]`` (per layer).

    Accepts ``[w_dim]``, ``[1, w_dim]``, ``[L, w_dim]`` and ``[1, L, w_dim]`` (the shapes found in
    the published files); anything else is refused with a one-line error.
    """
    obj = _load_tensor_file(path)
    if not isinstance(obj, torch.Tensor):
        raise CheckpointError(f"edit direction file {path} holds a {type(obj).__name__}, expected one tensor [1, w_dim] or [1, L, w_dim]")
    d = obj.detach().float()
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if d.ndim == 2 and d.shape[0] == 1:
        d = d[0]
    if d.ndim not in (1, 2):
        raise CheckpointError(f"edit direction file {path} has shape {list(obj.shape)}, expected [1, w_dim] or [1, L, w_dim]")
    if not torch.isfinite(d).all():
        raise CheckpointError(f"edit direction file {path} contains NaN or inf values; re-download it")
    return d.contiguous()


@dataclass(frozen=True)
class GANSpacePCA:
    """Principal directions of W (Härkönen et al. 2020): ``mean [w_dim]``, ``comp [K, w_dim]``, ``std [K]``."""

    mean: torch.Tensor
    comp: torch.Tensor
    std: torch.Tensor
    source: str = ""

    @property
    def w_dim(self) -> int:
        return int(self.mean.shape[-1])

    @property
    def num_components(self) -> int:
        return int(self.comp.shape[0])


def load_ganspace_pca(path: PathLike) -> GANSpacePCA:
    """Load a GANSpace PCA file (dict ``mean [1, w_dim]``, ``comp [K, 1, w_dim]``, ``std [K]``)."""
    obj = _load_tensor_file(path)
    if not isinstance(obj, dict) or not {"mean", "comp", "std"} <= set(obj):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"GANSpace PCA file {path} must be a dict with keys mean, comp, std; found {keys}")
    mean = obj["mean"].detach().float().reshape(-1)
    comp = obj["comp"].detach().float()
    comp = comp.reshape(comp.shape[0], -1)
    std = obj["std"].detach().float().reshape(-1)
    if comp.shape[1] != mean.shape[0] or std.shape[0] != comp.shape[0]:
        raise CheckpointError(
            f"GANSpace PCA file {path} is inconsistent: mean {list(obj['mean'].shape)}, "
            f"comp {list(obj['comp'].shape)}, std {list(obj['std'].shape)}"
        )
    return GANSpacePCA(mean=mean, comp=comp, std=std, source=str(path))


def check_w_dim(source: str, w_dim_file: int, w_dim_generator: int) -> None:
    """Refuse a direction made for another latent space (e.g. FFHQ 512-d edits on a 128-d generator)."""
    if w_dim_file != w_dim_generator:
        raise CheckpointError(
            f"edit direction {source} has w_dim {w_dim_file} but the generator has w_dim {w_dim_generator}; "
            "use edits made for this generator (or the synthetic edits for untrained/other generators)"
        )


# --------------------------------------------------------------------------------------------
# Edit objects


class Edit:
    """A latent edit: ``edit(latents [N, num_ws, w_dim]) -> edited latents`` (never in place)."""

    name: str = ""

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def inverse(self) -> Optional["Edit"]:
        """The edit that undoes this one (used by LEC), or None where no exact inverse exists."""
        return None


def _check_latents(latents: torch.Tensor, w_dim: int, source: str) -> None:
    if latents.ndim != 3:
        raise ValueError(f"edit {source}: latents must be [N, num_ws, w_dim], got shape {list(latents.shape)}")
    check_w_dim(source, w_dim, int(latents.shape[-1]))


class InterFaceGANEdit(Edit):
    """``w + strength * direction`` (Shen et al. 2020), as e4e's and PTI's editors apply it.

    A ``[w_dim]`` direction moves every style layer; a ``[L, w_dim]`` direction (``pose.pt``)
    moves layer ``i`` by row ``i`` and needs ``L == num_ws``. The inverse is the same direction
    with ``-strength``: exact, which makes InterFaceGAN edits the ones LEC uses.
    """

    def __init__(self, direction: torch.Tensor, strength: float, name: str = "", source: str = "") -> None:
        if direction.ndim not in (1, 2):
            raise ValueError(f"InterFaceGAN direction must be [w_dim] or [L, w_dim], got {list(direction.shape)}")
        self.direction = direction.float()
        self.strength = float(strength)
        self.name = name
        self.source = source or name or "interfacegan direction"

    @property
    def w_dim(self) -> int:
        return int(self.direction.shape[-1])

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        _check_latents(latents, self.w_dim, self.source)
        d = self.direction.to(device=latents.device, dtype=latents.dtype)
        if d.ndim == 2 and d.shape[0] != latents.shape[1]:
            raise CheckpointError(
                f"edit direction {self.source} has {d.shape[0]} style layers but the generator has num_ws "
                f"{latents.shape[1]}; use a single-vector direction [1, w_dim] for this generator"
            )
        return latents + self.strength * d  # broadcasts over N (and over layers for [w_dim])

    def inverse(self) -> "InterFaceGANEdit":
        return InterFaceGANEdit(self.direction, -self.strength, name=f"{self.name} (inverse)", source=self.source)

    def __repr__(self) -> str:
        return f"InterFaceGANEdit({self.name or self.source!r}, strength={self.strength:g})"


class GANSpaceEdit(Edit):
    """GANSpace's layer-wise PCA edit, exactly as e4e's ``editings/ganspace.py`` applies it.

    For each image, the coordinate of its *first* style vector along component ``c``, in units
    of that component's std, is ``a = <w_0 - mean, comp_c> / std_c``. The edit then adds
    ``(strength - a) * std_c * comp_c`` to the style layers ``first_layer <= i < last_layer``
    (Python slice; ``(46, 4, 5, -6)`` touches layer 4 only). So ``strength`` is an *absolute*
    target coordinate (in stds) for those layers, not a step: the edit sets rather than moves,
    and has no exact inverse once the original coordinate is overwritten (``inverse()`` is None).
    Other layers are returned bit-for-bit unchanged.
    """

    def __init__(self, pca: GANSpacePCA, component: int, first_layer: int, last_layer: int, strength: float, name: str = "") -> None:
        if not 0 <= component < pca.num_components:
            raise ValueError(f"GANSpace component {component} out of range: {pca.source or 'PCA'} has {pca.num_components} components")
        if not 0 <= first_layer < last_layer:
            raise ValueError(f"GANSpace layer range [{first_layer}, {last_layer}) is empty or negative")
        self.pca = pca
        self.component = int(component)
        self.first_layer = int(first_layer)
        self.last_layer = int(last_layer)
        self.strength = float(strength)
        self.name = name
        self.source = pca.source or name or "GANSpace PCA"

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        _check_latents(latents, self.pca.w_dim, self.source)
        if self.last_layer > latents.shape[1]:
            raise ValueError(
                f"GANSpace edit {self.name or self.component}: layer range [{self.first_layer}, {self.last_layer}) "
                f"exceeds the generator's num_ws {latents.shape[1]}"
            )
        dev, dt = latents.device, latents.dtype
        comp = self.pca.comp[self.component].to(dev, dt)
        std = self.pca.std[self.component].to(dev, dt)
        mean = self.pca.mean.to(dev, dt)
        coord = ((latents[:, 0, :] - mean) @ comp) / std  # [N], in stds
        delta = ((self.strength - coord) * std)[:, None] * comp[None, :]  # [N, w_dim]
        out = latents.clone()
        out[:, self.first_layer:self.last_layer, :] += delta[:, None, :]
        return out

    def __repr__(self) -> str:
        return (f"GANSpaceEdit({self.name!r}, component={self.component}, layers=[{self.first_layer}, "
                f"{self.last_layer}), strength={self.strength:g})")
