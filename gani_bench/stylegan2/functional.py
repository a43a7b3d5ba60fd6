"""Run the generator with per-layer weight offsets, without copying or mutating it.

Every tuning method (PTI, GaNI, HyperStyle-style offsets) ends up evaluating
``G.synthesis`` with weights ``theta + delta``. Doing that by editing ``G``'s parameters in
place is the classic source of bugs: forgotten restores, deltas applied twice, a shared
generator silently changed for the next image. This module is the ONE way to do it:
``torch.func.functional_call`` swaps tensors in for a single call, so ``G`` is never touched,
gradients flow to the deltas (and to ``G``'s parameters if they require grad), and the same
``G`` can serve many images at once.

Delta keys are ``G.named_parameters()`` names (``'synthesis.b8.conv0.weight'``). A delta may
only target synthesis parameters (mapping weights do not take part in ``G.synthesis``).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch
from torch.func import functional_call

from ..errors import GaniBenchError
from ..registry import Registry
from .networks import Generator, SynthesisLayer, ToRGBLayer

_PREFIX = "synthesis."


#: How a delta combines with its parameter: ``W + D`` (PTI, GaNI) or ``W * (1 + D)``
#: (HyperStyle's multiplicative offsets, applied before modulation and demodulation).
DELTA_MODES: Dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "add": lambda p, d: p + d,
    "mul": lambda p, d: p * (1 + d),
}


def per_sample_parameter_names(G: Generator) -> List[str]:
    """Parameters that accept per-sample deltas ``[N, *shape]``: the modulated conv and ToRGB
    weights, because the modulated convolution already builds one kernel per sample."""
    return [f"{prefix}.weight" for _, prefix, _ in _modulated_layers(G)]


def _check_overrides(G: Generator, deltas: Optional[Mapping[str, torch.Tensor]], noise: Optional[Mapping[str, torch.Tensor]],
                     batch: Optional[int] = None) -> bool:
    """Reject unknown keys and mis-shaped tensors with one line naming the key.

    Returns whether any delta is per sample (shape ``[batch, *param.shape]``).
    """
    params = dict(G.synthesis.named_parameters())
    per_sample_ok = set(per_sample_parameter_names(G))
    any_per_sample = False
    for key, d in (deltas or {}).items():
        if not key.startswith(_PREFIX) or key[len(_PREFIX):] not in params:
            hint = "; only synthesis parameters can take deltas" if key in dict(G.named_parameters()) else ""
            raise GaniBenchError(f"weight delta {key!r} names no synthesis parameter of this generator{hint} (keys are G.named_parameters() names such as 'synthesis.b8.conv0.weight')")
        p = params[key[len(_PREFIX):]]
        if tuple(d.shape) == tuple(p.shape):
            continue
        if d.ndim == p.ndim + 1 and tuple(d.shape[1:]) == tuple(p.shape) and key in per_sample_ok:
            if batch is not None and int(d.shape[0]) != batch:
                raise GaniBenchError(f"weight delta {key!r} has {int(d.shape[0])} per-sample offsets but ws holds {batch} images; pass one per image")
            any_per_sample = True
            continue
        if d.ndim == p.ndim + 1 and tuple(d.shape[1:]) == tuple(p.shape):
            raise GaniBenchError(f"weight delta {key!r} is per sample {tuple(d.shape)}, which only modulated conv and ToRGB weights accept; pass shape {tuple(p.shape)}")
        raise GaniBenchError(f"weight delta {key!r} has shape {tuple(d.shape)} but the parameter has shape {tuple(p.shape)} (or [N, *shape] per sample)")
    if noise:
        buffers = dict(G.synthesis.named_buffers())
        for key, n in noise.items():
            short = key[len(_PREFIX):] if key.startswith(_PREFIX) else None
            if short is None or not short.endswith("noise_const") or short not in buffers:
                raise GaniBenchError(f"noise override {key!r} names no noise buffer of this generator (keys look like 'synthesis.b8.conv0.noise_const')")
            res = tuple(buffers[short].shape)
            ok = tuple(n.shape) == res or (n.ndim == 4 and n.shape[1] == 1 and tuple(n.shape[2:]) == res)
            if not ok:
                raise GaniBenchError(f"noise override {key!r} has shape {tuple(n.shape)}; use {list(res)} or [N or 1, 1, {res[0]}, {res[1]}]")
    return any_per_sample


def synthesize(
    G: Generator,
    ws: torch.Tensor,
    deltas: Optional[Mapping[str, torch.Tensor]] = None,
    noise_mode: str = "const",
    noise: Optional[Mapping[str, torch.Tensor]] = None,
    *,
    mode: str = "add",
    **synthesis_kwargs,
) -> torch.Tensor:
    """``G.synthesis(ws)`` with parameters ``theta + deltas[name]`` and optional noise maps.

    ``mode='add'`` (default) uses ``theta + delta``; ``mode='mul'`` uses ``theta * (1 + delta)``,
    HyperStyle's multiplicative offsets (applied to the stored weight, before modulation and
    demodulation, exactly where the authors' generator applies them).

    A delta is either shared (``param.shape``: every image uses it) or per sample
    (``[N, *param.shape]`` with ``N = ws.shape[0]``; modulated conv and ToRGB weights only, see
    :func:`per_sample_parameter_names`). Per-sample weights go through the modulated
    convolution's grouped-convolution path, so the whole batch is rendered in one pass; the
    result equals rendering the images one at a time up to float32 reassociation (measured in
    ``tests/test_functional.py``). Shared deltas take exactly the code path they took before.

    ``noise`` overrides ``noise_const`` buffers (keys like ``'synthesis.b8.conv0.noise_const'``)
    for this call, e.g. the noise maps a projector optimises; it requires ``noise_mode='const'``.
    With ``deltas=None`` and ``noise=None`` the result equals ``G.synthesis(ws,
    noise_mode=noise_mode)`` bit for bit.
    """
    if mode not in DELTA_MODES:
        raise GaniBenchError(f"synthesize: mode={mode!r} is not one of {sorted(DELTA_MODES)}; use mode='add' (theta + delta) or mode='mul' (theta * (1 + delta))")
    _check_overrides(G, deltas, noise, batch=int(ws.shape[0]))
    if noise and noise_mode != "const":
        raise GaniBenchError(f"noise overrides are only used with noise_mode='const', got {noise_mode!r}")
    if not deltas and not noise:
        return G.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)
    combine = DELTA_MODES[mode]
    params = dict(G.synthesis.named_parameters())
    overrides: Dict[str, torch.Tensor] = {}
    for key, d in (deltas or {}).items():
        short = key[len(_PREFIX):]
        overrides[short] = combine(params[short], d.to(params[short].dtype))
    for key, n in (noise or {}).items():
        overrides[key[len(_PREFIX):]] = n
    return functional_call(G.synthesis, overrides, args=(ws,), kwargs=dict(noise_mode=noise_mode, **synthesis_kwargs), strict=False)


def stack_deltas(G: Generator, deltas_per_image: Sequence[Mapping[str, torch.Tensor]]) -> Optional[Dict[str, torch.Tensor]]:
    """One dict of per-sample deltas ``[N, *shape]`` from N per-image dicts (a key missing from
    an image counts as a zero delta for it), or None when some key cannot be per sample."""
    allowed = set(per_sample_parameter_names(G))
    keys = list(dict.fromkeys(k for d in deltas_per_image for k in d))
    if any(k not in allowed for k in keys):
        return None
    params = dict(G.named_parameters())
    out: Dict[str, torch.Tensor] = {}
    for k in keys:
        zero = torch.zeros_like(params[k])
        out[k] = torch.stack([d[k] if k in d else zero for d in deltas_per_image])
    return out


def synthesize_batch_deltas(
    G: Generator,
    ws: torch.Tensor,
    deltas_per_image: Sequence[Mapping[str, torch.Tensor]],
    noise_mode: str = "const",
    *,
    mode: str = "add",
    one_pass: Optional[bool] = None,
    **synthesis_kwargs,
) -> torch.Tensor:
    """A batch where image ``i`` is rendered from ``ws[i]`` with its own ``deltas_per_image[i]``.

    Two equivalent routes (equal to float32 reassociation error, tested):

    * one pass: the dicts are stacked into per-sample deltas (:func:`stack_deltas`) and
      :func:`synthesize` renders the batch through the grouped convolution, one kernel per
      image. Possible when every key is a modulated conv or ToRGB weight.
    * a loop of per-image :func:`synthesize` calls (any keys; bit-identical to single calls).

    ``one_pass=None`` picks the one pass on CUDA and the loop on CPU, from measurements on CPU
    (``tests/benchmarks/test_bench_per_sample.py``, embedded 64 px generator, offsets on all
    14 conv/ToRGB weights, batch 8, 1 thread, shared 2-core machine, interleaved runs): forward
    one pass 97 ms vs loop 87 ms (min of 15; medians 104 / 88 ms); forward+backward at 256
    channels one pass 1.81 s vs loop 1.44 s (min of 5). PyTorch's CPU grouped convolution does
    not beat N dense ones, so the loop stays the CPU default; on GPUs the grouped convolution is
    the standard way to batch modulated convs (StyleGAN2, HyperStyle) and was not measured here
    (no device). With ``noise_mode='random'`` the two routes draw different (equally
    distributed) noise.
    """
    if len(deltas_per_image) != ws.shape[0]:
        raise GaniBenchError(f"synthesize_batch_deltas: got {len(deltas_per_image)} delta dicts for a batch of {ws.shape[0]} ws; pass one dict per image")
    for d in deltas_per_image:
        _check_overrides(G, d, None)
    if one_pass is None:
        one_pass = ws.device.type == "cuda"
    stacked = stack_deltas(G, deltas_per_image) if one_pass else None
    if one_pass and stacked is None:
        raise GaniBenchError("synthesize_batch_deltas: one_pass=True needs deltas on modulated conv / ToRGB weights only; pass one_pass=False (or None) for other keys")
    if stacked is not None:
        return synthesize(G, ws, stacked, noise_mode=noise_mode, mode=mode, **synthesis_kwargs)
    outs = [synthesize(G, ws[i:i + 1], d, noise_mode=noise_mode, mode=mode, **synthesis_kwargs) for i, d in enumerate(deltas_per_image)]
    return torch.cat(outs, dim=0)


# ---------------------------------------------------------------------------------------------
# Which parameters a method tunes: named layer sets.

#: HyperStyle's "coarse" layers are those at 4 and 8 px; medium+fine start at this resolution.
MEDIUM_FINE_MIN_RES = 16

LayerSelector = Callable[[Generator], List[str]]
LAYER_SETS: Registry[LayerSelector] = Registry("layer set")


def _modulated_layers(G: Generator) -> List[tuple]:
    """(resolution, parameter-name prefix, layer) of every SynthesisLayer and ToRGBLayer, in order."""
    out = []
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        for child in ("conv0", "conv1", "torgb"):
            layer = getattr(block, child, None)
            if isinstance(layer, (SynthesisLayer, ToRGBLayer)):
                out.append((res, f"synthesis.b{res}.{child}", layer))
    return out


@LAYER_SETS.register("all_synthesis")
def _all_synthesis(G: Generator) -> List[str]:
    """Every synthesis parameter (conv/ToRGB weights and biases, affines, const, noise
    strengths, resnet skips): what PTI tunes, since the mapping network is unused at fixed w."""
    return [_PREFIX + n for n, _ in G.synthesis.named_parameters()]


@LAYER_SETS.register("conv_and_torgb_weights")
def _conv_and_torgb(G: Generator) -> List[str]:
    """The weight of every modulated conv (conv0, conv1) and every ToRGB layer."""
    return [f"{prefix}.weight" for _, prefix, _ in _modulated_layers(G)]


@LAYER_SETS.register("medium_fine")
def _medium_fine(G: Generator) -> List[str]:
    """HyperStyle's medium+fine non-ToRGB conv weights.

    At 1024 px HyperStyle tunes its layers 5,6,8,9,...,23,24 (ToRGB excluded), which are the
    conv0/conv1 weights of blocks b16 ... b1024; the coarse layers are b4 and b8. We keep that
    split by absolute resolution (StyleGAN's coarse/medium/fine styles are defined by
    resolution): conv weights of every block with resolution >= 16, at any output size.
    """
    return [f"{prefix}.weight" for res, prefix, layer in _modulated_layers(G)
            if isinstance(layer, SynthesisLayer) and res >= MEDIUM_FINE_MIN_RES]


def tunable_parameter_names(G: Generator, layer_set: str = "conv_and_torgb_weights", with_bias: bool = False) -> List[str]:
    """Names (``G.named_parameters()`` keys) of the parameters a method tunes.

    ``with_bias`` adds the bias of every selected layer (no-op for 'all_synthesis', which
    already holds them).
    """
    names = LAYER_SETS.get(layer_set)(G)
    if with_bias:
        existing = set(dict(G.named_parameters()))
        extra = [n[: -len("weight")] + "bias" for n in names if n.endswith(".weight")]
        names = names + [b for b in extra if b in existing and b not in names]
    return names


def zero_deltas(G: Generator, names: Sequence[str], requires_grad: bool = False) -> Dict[str, torch.Tensor]:
    """Zero tensors shaped like the named parameters (a convenient starting point)."""
    params = dict(G.named_parameters())
    missing = [n for n in names if n not in params]
    if missing:
        raise GaniBenchError(f"zero_deltas: {missing[0]!r} is not a parameter of this generator")
    return {n: torch.zeros_like(params[n]).detach().requires_grad_(requires_grad) for n in names}


__all__ = ["synthesize", "synthesize_batch_deltas", "stack_deltas", "per_sample_parameter_names", "DELTA_MODES", "tunable_parameter_names", "zero_deltas", "LAYER_SETS", "MEDIUM_FINE_MIN_RES"]
