"""Convert rosinality/stylegan2-pytorch generators to and from NVIDIA's (our) parameter names.

rosinality's ``.pt`` files are torch zip archives holding a dict with ``g_ema`` (a state dict)
and ``latent_avg`` (the mean w); e4e, PTI and HyperStyle ship FFHQ in this form. They are read
with ``torch.load(..., weights_only=True)``, so nothing in the file is executed.

Facts behind the mapping (rosinality ``model.py`` / ``convert_weight.py`` and NVIDIA
stylegan2-ada-pytorch ``training/networks.py`` / ``legacy.py``, read for this module):

* Both store weights *unscaled* and apply the equalised-learning-rate gain at run time with the
  same formulas: dense ``w * lr_mul / sqrt(in)``, bias ``* lr_mul`` (mapping ``lr_mul = 0.01``
  in both; modulation ``EqualLinear(..., bias_init=1)`` = NVIDIA ``affine``, lr_mul 1); so
  tensors copy over unchanged, only renamed and reshaped.
* Modulated 3x3 convs: rosinality multiplies by ``1/sqrt(fan_in)`` before demodulation,
  NVIDIA does not; demodulation cancels the factor, leaving only the 1e-8 epsilon under the
  square root (relative effect below 1e-6 for real networks). ToRGB (not demodulated):
  rosinality scales the weight by ``1/sqrt(in)``, NVIDIA the styles by the same factor: equal.
* Up-sampling convs: both converters flip the TF ``Conv0_up`` kernel the same way
  (``convert_weight.py`` ``flip=True``; ``legacy.py`` ``[::-1, ::-1]``), so the stored kernels
  have the same orientation. Blur: rosinality keeps ``make_kernel([1,3,3,1]) * 4`` as buffers
  ``convs.N.conv.blur.kernel`` / ``to_rgbs.N.upsample.kernel``; NVIDIA keeps the normalised
  filter (sum 1) as ``resample_filter`` and applies the gain 4 at run time.
* Noise: both add ``strength * noise`` after the modulated conv and before bias + leaky ReLU
  (gain sqrt 2); rosinality's strength is ``[1]``, NVIDIA's a 0-d tensor.
* rosinality has no output clamp and no fp16: converted generators use ``conv_clamp=None``,
  ``num_fp16_res=0``. Its mapping normalises z exactly as NVIDIA's (``PixelNorm`` =
  ``normalize_2nd_moment``, eps 1e-8), so ``z_dim == w_dim``.

===========================================  =============================  ===================
ours (NVIDIA)                                rosinality ``g_ema``           transform
===========================================  =============================  ===================
``mapping.fc{i}.weight`` / ``.bias``         ``style.{i+1}.weight/.bias``   copy
``mapping.w_avg``                            ``latent_avg`` (top level)     reshape ``[w_dim]``
``synthesis.b4.const``                       ``input.input``                ``[1,C,4,4]`` <-> ``[C,4,4]``
``synthesis.b4.conv1.*``                     ``conv1.*``                    as a conv layer
``synthesis.b{r}.conv0.*``                   ``convs.{2i}.*``               ``i = log2(r) - 3``
``synthesis.b{r}.conv1.*``                   ``convs.{2i+1}.*``
``synthesis.b4.torgb.*``                     ``to_rgb1.*``                  as a ToRGB layer
``synthesis.b{r}.torgb.*``                   ``to_rgbs.{i}.*``
conv layer ``.weight``                       ``.conv.weight``               ``[1,O,I,3,3]`` <-> ``[O,I,3,3]``
conv layer ``.affine.weight`` / ``.bias``    ``.conv.modulation.weight/.bias``  copy
conv layer ``.noise_strength``               ``.noise.weight``              ``[1]`` <-> ``[]``
conv layer ``.bias``                         ``.activate.bias``             copy
conv layer ``.noise_const``                  ``noises.noise_{n}``           ``[1,1,r,r]`` <-> ``[r,r]``; n = 0 for b4, ``2i+1`` conv0, ``2i+2`` conv1
ToRGB ``.weight``                            ``.conv.weight``               ``[1,3,I,1,1]`` <-> ``[3,I,1,1]``
ToRGB ``.bias``                              ``.bias``                      ``[1,3,1,1]`` <-> ``[3]``
every ``resample_filter``                    ``convs.{2i}.conv.blur.kernel``,  ``/ 4`` <-> ``* 4``
                                             ``to_rgbs.{i}.upsample.kernel``
===========================================  =============================  ===================

The network's shape (resolution, channels per resolution, mapping depth) is inferred from the
tensors; channel counts are expressed as NVIDIA's ``min(channel_base // res, channel_max)``,
which reproduces rosinality's table for every ``channel_multiplier`` (config-f = 2 gives
``channel_base=32768``). The one fact tensors cannot reveal is the mapping's ``lr_mul``;
rosinality's default 0.01 (NVIDIA's too) is assumed.
"""
from __future__ import annotations

import math
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Union

import torch

from ..errors import CheckpointError
from .state import check_state_dict, construct_generator, finalize, load_state_strict

PathLike = Union[str, Path]
#: the blur kernel both codebases use; rosinality stores it times 4 (the up-sampling gain)
UPSAMPLE_GAIN = 4.0
#: samples used to estimate w_avg when a rosinality checkpoint has no ``latent_avg``
W_AVG_SAMPLES = 10_000


def _conv_pairs(ours: str, theirs: str) -> List[Tuple[str, str]]:
    return [
        (f"{ours}.weight", f"{theirs}.conv.weight"),
        (f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight"),
        (f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias"),
        (f"{ours}.noise_strength", f"{theirs}.noise.weight"),
        (f"{ours}.bias", f"{theirs}.activate.bias"),
    ]


def _torgb_pairs(ours: str, theirs: str) -> List[Tuple[str, str]]:
    return [
        (f"{ours}.weight", f"{theirs}.conv.weight"),
        (f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight"),
        (f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias"),
        (f"{ours}.bias", f"{theirs}.bias"),
    ]


def name_table(resolution: int, num_mapping_layers: int) -> List[Tuple[str, str]]:
    """(our name, rosinality name) for every copied tensor of a generator of this shape.

    Resample filters and ``w_avg``/``latent_avg`` are handled separately (derived / top level).
    """
    pairs = [(f"mapping.fc{i}.{p}", f"style.{i + 1}.{p}") for i in range(num_mapping_layers) for p in ("weight", "bias")]
    pairs.append(("synthesis.b4.const", "input.input"))
    pairs += _conv_pairs("synthesis.b4.conv1", "conv1")
    pairs.append(("synthesis.b4.conv1.noise_const", "noises.noise_0"))
    pairs += _torgb_pairs("synthesis.b4.torgb", "to_rgb1")
    for i in range(int(math.log2(resolution)) - 2):
        r = 2 ** (i + 3)
        pairs += _conv_pairs(f"synthesis.b{r}.conv0", f"convs.{2 * i}")
        pairs += _conv_pairs(f"synthesis.b{r}.conv1", f"convs.{2 * i + 1}")
        pairs.append((f"synthesis.b{r}.conv0.noise_const", f"noises.noise_{2 * i + 1}"))
        pairs.append((f"synthesis.b{r}.conv1.noise_const", f"noises.noise_{2 * i + 2}"))
        pairs += _torgb_pairs(f"synthesis.b{r}.torgb", f"to_rgbs.{i}")
    return pairs


def _kernel_names(resolution: int) -> List[str]:
    names = []
    for i in range(int(math.log2(resolution)) - 2):
        names += [f"convs.{2 * i}.conv.blur.kernel", f"to_rgbs.{i}.upsample.kernel"]
    return names


def _to_rosinality_shape(ours_name: str, t: torch.Tensor) -> torch.Tensor:
    if ours_name.endswith("torgb.bias"):
        return t.reshape(1, -1, 1, 1)
    if ours_name.endswith(".const"):
        return t.unsqueeze(0)
    if ours_name.endswith("noise_const"):
        return t.reshape(1, 1, *t.shape)
    if ours_name.endswith("noise_strength"):
        return t.reshape(1)
    if re.search(r"\.(conv[01]|torgb)\.weight$", ours_name):
        return t.unsqueeze(0)
    return t


def _to_ours_shape(ours_name: str, t: torch.Tensor) -> torch.Tensor:
    if ours_name.endswith("torgb.bias"):
        return t.reshape(-1)
    if ours_name.endswith(".const") or re.search(r"\.(conv[01]|torgb)\.weight$", ours_name):
        return t.squeeze(0) if t.dim() > 0 and t.shape[0] == 1 else t
    if ours_name.endswith("noise_const"):
        return t.reshape(t.shape[-2:]) if t.dim() == 4 and t.shape[:2] == (1, 1) else t
    if ours_name.endswith("noise_strength"):
        return t.reshape(()) if t.numel() == 1 else t
    return t


def _resample_filter_names(state: Mapping[str, Any]) -> List[str]:
    return [k for k in state if k.endswith("resample_filter")]


def to_rosinality(G_or_state: Union[torch.nn.Module, Mapping[str, torch.Tensor]]) -> Dict[str, Any]:
    """Our generator (or its state dict) as a rosinality checkpoint dict ``{g_ema, latent_avg}``."""
    state = G_or_state.state_dict() if isinstance(G_or_state, torch.nn.Module) else dict(G_or_state)
    if any(k.startswith("mapping.embed.") for k in state):
        raise CheckpointError("a conditional generator (c_dim > 0) has no rosinality equivalent")
    num_fc = len([k for k in state if re.fullmatch(r"mapping\.fc\d+\.weight", k)])
    resolution = max(int(m.group(1)) for k in state for m in [re.match(r"synthesis\.b(\d+)\.", k)] if m)
    out: Dict[str, torch.Tensor] = {}
    for ours, theirs in name_table(resolution, num_fc):
        if ours not in state:
            raise CheckpointError(f"cannot export to rosinality: the generator has no {ours} (architecture other than StyleGAN2 'skip' with noise)")
        out[theirs] = _to_rosinality_shape(ours, state[ours]).clone()
    for i in range(int(math.log2(resolution)) - 2):
        r = 2 ** (i + 3)
        out[f"convs.{2 * i}.conv.blur.kernel"] = state[f"synthesis.b{r}.conv0.resample_filter"] * UPSAMPLE_GAIN
        out[f"to_rgbs.{i}.upsample.kernel"] = state[f"synthesis.b{r}.resample_filter"] * UPSAMPLE_GAIN
    return {"g_ema": out, "latent_avg": state["mapping.w_avg"].clone()}


def infer_init_kwargs(path: PathLike, g: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """NVIDIA constructor arguments that reproduce the shapes of a rosinality ``g_ema``."""
    try:
        n_mlp = len([k for k in g if re.fullmatch(r"style\.\d+\.weight", k)])
        w_dim, z_dim = g["style.1.weight"].shape
        to_rgbs = len([k for k in g if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
        resolution = 2 ** (to_rgbs + 2)
        channels = {4: int(g["input.input"].shape[1])}
        for i in range(to_rgbs):
            channels[2 ** (i + 3)] = int(g[f"convs.{2 * i}.conv.weight"].shape[1])
        img_channels = int(g["to_rgb1.conv.weight"].shape[1])
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: g_ema lacks the tensors that define a rosinality StyleGAN2 generator ({exc}); is it a rosinality stylegan2-pytorch checkpoint?") from None
    if n_mlp == 0 or z_dim != w_dim:
        raise CheckpointError(f"{path}: g_ema's mapping network ({n_mlp} layers, {z_dim}->{w_dim}) is not rosinality's")
    channel_max = max(channels.values())
    top = channels[resolution]
    channel_base = top * resolution if top < channel_max else channel_max * resolution
    if any(min(channel_base // r, channel_max) != c for r, c in channels.items()):
        raise CheckpointError(f"{path}: channels per resolution {channels} do not follow StyleGAN2's min(base // res, max) rule; not a rosinality/NVIDIA config")
    return dict(
        z_dim=int(z_dim), c_dim=0, w_dim=int(w_dim), img_resolution=resolution, img_channels=img_channels,
        mapping_kwargs=dict(num_layers=n_mlp),
        synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max, num_fp16_res=0, conv_clamp=None),
    )


def from_rosinality(path: PathLike, ckpt: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor], bool]:
    """``(init_kwargs, our state dict, has_w_avg)`` from a rosinality checkpoint dict.

    Shapes are checked against the expected rosinality shapes first so that a corrupted or
    edited file is reported with rosinality's own tensor names.
    """
    g = ckpt.get("g_ema")
    if not isinstance(g, Mapping):
        keys = ", ".join(map(str, ckpt)) if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointError(f"{path}: a torch file without 'g_ema' (holds: {keys}); expected a rosinality stylegan2-pytorch checkpoint")
    kwargs = infer_init_kwargs(path, g)
    G = construct_generator(path, kwargs)
    expected = to_rosinality(G)["g_ema"]
    check_state_dict(path, expected, g)
    table = name_table(kwargs["img_resolution"], kwargs["mapping_kwargs"]["num_layers"])
    state = {ours: _to_ours_shape(ours, g[theirs]) for ours, theirs in table}
    kernels = [g[k] / UPSAMPLE_GAIN for k in _kernel_names(kwargs["img_resolution"])]
    template = G.state_dict()
    for name in _resample_filter_names(template):
        ref = kernels[0] if kernels else template[name]
        if any(k.shape != ref.shape or not torch.allclose(k, ref) for k in kernels):
            raise CheckpointError(f"{path}: the blur kernels differ between layers; gani-bench supports one resample filter per network")
        state[name] = ref.clone()
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != kwargs["w_dim"]:
            raise CheckpointError(f"{path}: latent_avg has shape {tuple(getattr(latent_avg, 'shape', ()))}, expected [{kwargs['w_dim']}]")
        state["mapping.w_avg"] = latent_avg.reshape(-1).clone()
    else:
        state["mapping.w_avg"] = template["mapping.w_avg"]
    return kwargs, state, latent_avg is not None


@torch.no_grad()
def estimate_w_avg(G: torch.nn.Module, samples: int = W_AVG_SAMPLES, seed: int = 0) -> torch.Tensor:
    """Mean of ``mapping(z)`` over ``samples`` seeded z: stands in for a missing ``latent_avg``."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, G.z_dim, generator=gen)
    return G.mapping(z, None)[:, 0].mean(0)


def read_torch_file(path: PathLike) -> Any:
    """``torch.load(weights_only=True)``; every failure is one CheckpointError line."""
    import argparse

    try:
        # rosinality's train.py also saves its argparse Namespace: a plain attribute bag.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, KeyError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            m = re.search(r"GLOBAL ([\w.]+)", str(exc))
            what = m.group(1) if m else "pickle features (or objects) that are not plain tensors"
            raise CheckpointError(f"{path}: refusing to load: the torch file asks for {what}, which a StyleGAN2 checkpoint never contains (it may execute code); use the official checkpoint") from None
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({detail}); the file is truncated or corrupt: download it again") from None


def load_rosinality(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Build our Generator from a rosinality ``.pt``; returns ``(G, metadata)``."""
    ckpt = read_torch_file(path)
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f"{path}: the torch file holds a {type(ckpt).__name__}, not a rosinality checkpoint dict with 'g_ema'")
    kwargs, state, has_avg = from_rosinality(path, ckpt)
    G = construct_generator(path, kwargs)
    load_state_strict(path, G, state)
    if not has_avg:
        G.mapping.w_avg.copy_(estimate_w_avg(G))
    meta = {"init_kwargs": kwargs, "w_avg": "latent_avg" if has_avg else f"estimated from {W_AVG_SAMPLES} z (no latent_avg)"}
    return finalize(G, device), meta


def save_rosinality(G: torch.nn.Module, path: PathLike) -> Path:
    """Write ``G`` as a rosinality-style ``.pt`` (``{g_ema, latent_avg}``, loadable weights-only)."""
    torch.save(to_rosinality(G), str(path))
    return Path(path)


def save_authors_checkpoint(path: PathLike, state: Dict[str, torch.Tensor], opts: Mapping[str, Any], *,
                            decoder: Union[torch.nn.Module, None] = None, latent_avg: Union[torch.Tensor, None] = None,
                            extra: Union[Mapping[str, Any], None] = None) -> Path:
    """Write ``{'state_dict', 'opts', 'latent_avg', **extra}`` as the pSp-family repositories do
    (pSp, e4e, ReStyle, HyperStyle), atomically (a temporary file, then a rename).

    ``state`` holds the model's own prefixed tensors (``encoder.*``, ``hypernet.*``); ``decoder``
    (our Generator) is added as rosinality ``decoder.*`` tensors when given.
    """
    state = dict(state)
    if decoder is not None:
        state.update({f"decoder.{k}": v for k, v in to_rosinality(decoder)["g_ema"].items()})
    out: Dict[str, Any] = {"state_dict": state, "opts": dict(opts)}
    if latent_avg is not None:
        out["latent_avg"] = latent_avg
    out.update(dict(extra or {}))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(out, str(tmp))
    tmp.replace(path)
    return path
