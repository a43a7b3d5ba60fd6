"""Read and write HyperStyle files in the authors' layout; ``load_hyperstyle(path_or_name)``.

Layout (``training/coach_hyperstyle.py`` of yuval-alaluf/hyperstyle): a torch file with
``{'state_dict': {'hypernet.*', 'decoder.*'}, 'opts': vars(argparse options), 'latent_avg',
...}``; W-encoder keys are dropped (the W-encoder is its own file). Read with
``torch.load(weights_only=True)``. The layout comes from ``opts`` (``encoder_type``,
``output_size``, ``layers_to_tune``, ``input_nc``); files written by gani-bench also keep the
:class:`HyperNetConfig` under ``opts['gani_bench_hypernet']`` so small layouts load without
guessing. The shared hypernet's tensors appear once per block that holds it
(``shared_weight_hypernet.w1`` and ``refinement_blocks.{i}.hypernet.w1`` ...): they are loaded
once, and a file whose copies differ is refused. ``decoder.*`` (rosinality StyleGAN2) becomes
our Generator through the encoders' decoder reader (:mod:`gani_bench.checkpoints.rosinality`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..checkpoints.loader import GeneratorInfo
from ..checkpoints.rosinality import read_torch_file, save_authors_checkpoint
from ..checkpoints.state import name_list
from ..errors import CheckpointError, ConfigError
from .config import HyperNetConfig, authors_config
from .model import HyperStyle

PathLike = Union[str, Path]
Device = Union[str, torch.device]
#: where gani-bench keeps its HyperNetConfig inside ``opts``
CONFIG_KEY = "gani_bench_hypernet"
ENCODER_TYPES = {"SharedWeightsHyperNetResNet": False, "SharedWeightsHyperNetResNetSeparable": True}
_SHARED = re.compile(r"^(?:shared_weight_hypernet|refinement_blocks\.\d+\.hypernet)\.(w1|b1|w2|b2)$")


@dataclass
class HyperStyleInfo:
    """What a loaded HyperStyle is and where it came from."""

    source: str
    config: HyperNetConfig
    opts: Dict[str, Any] = field(default_factory=dict)
    latent_avg: Optional[torch.Tensor] = None
    generator: Optional[nn.Module] = None
    generator_info: Optional[GeneratorInfo] = None
    w_encoder_info: Any = None
    layout: str = "authors"


def config_from_opts(src: str, opts: Mapping[str, Any]) -> HyperNetConfig:
    if CONFIG_KEY in opts:
        return HyperNetConfig.from_dict(dict(opts[CONFIG_KEY]))
    etype = str(opts.get("encoder_type", ""))
    if etype not in ENCODER_TYPES:
        raise CheckpointError(f"{src}: opts['encoder_type'] = {etype!r}; a HyperStyle file has one of {sorted(ENCODER_TYPES)}")
    if int(opts.get("input_nc", 6)) != 6:
        raise CheckpointError(f"{src}: opts['input_nc'] = {opts.get('input_nc')}; HyperStyle reads 6 channels (image + reconstruction)")
    tune = opts.get("layers_to_tune")
    try:
        return authors_config(int(opts.get("output_size", 1024)), tune if tune is None else str(tune), separable=ENCODER_TYPES[etype])
    except ConfigError as exc:
        raise CheckpointError(f"{src}: {exc}") from None


def dedupe_shared(src: str, state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Every copy of the shared hypernet's tensors replaced by one; refuse copies that differ."""
    canon: Dict[str, torch.Tensor] = {}
    out = dict(state)
    for k, v in state.items():
        m = _SHARED.match(k)
        if not m:
            continue
        first = canon.setdefault(m.group(1), v)
        if first is not v and (first.shape != v.shape or not torch.equal(first, v)):
            raise CheckpointError(f"{src}: the shared hypernet's copies differ ({k} != shared_weight_hypernet.{m.group(1)}); "
                                  "the file was edited or corrupted: download it again")
    for k in out:
        m = _SHARED.match(k)
        if m:
            out[k] = canon[m.group(1)]
    return out


def _check_hypernet_state(src: str, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise CheckpointError(f"{src}: the hypernet tensors do not match its opts (missing {name_list(missing, 2) or 'none'}, "
                              f"unexpected {name_list(unexpected, 2) or 'none'}); opts['output_size'] / ['layers_to_tune'] "
                              "must be those it was trained with")
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if wrong:
        raise CheckpointError(f"{src}: mis-shaped hypernet tensor(s) {name_list(wrong, 2)}; opts does not describe this file")


def read_hyperstyle_file(path: PathLike, device: Device = "cpu", *, source: Optional[str] = None) -> Tuple[HyperStyle, HyperStyleInfo]:
    """One file in the authors' layout -> ``(HyperStyle, HyperStyleInfo)`` (no W-encoder)."""
    from ..encoders.loading import decoder_generator

    src = source or Path(path).name
    ckpt = read_torch_file(path)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise CheckpointError(f"{src}: not a HyperStyle checkpoint (expected a dict with 'state_dict', 'opts', 'latent_avg')")
    opts = dict(ckpt.get("opts") or {})
    sd = ckpt["state_dict"]
    hyp = {k[len("hypernet."):]: v for k, v in sd.items() if k.startswith("hypernet.")}
    dec = {k[len("decoder."):]: v for k, v in sd.items() if k.startswith("decoder.")}
    if not hyp:
        raise CheckpointError(f"{src}: the state_dict has no 'hypernet.*' tensors; is it an encoder or generator file rather than HyperStyle?")
    cfg = config_from_opts(src, opts)
    hyp = dedupe_shared(src, hyp)
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise CheckpointError(f"{src}: latent_avg is a {type(latent_avg).__name__}, not a tensor")
    with torch.device("meta"):  # no random init of ~300 M parameters only to overwrite them
        model = HyperStyle(cfg, latent_avg=latent_avg)
    _check_hypernet_state(src, model.hypernet, hyp)
    for k, v in model.hypernet.state_dict().items():
        if k not in hyp:  # only BatchNorm's num_batches_tracked may be absent (checked above)
            hyp[k] = torch.zeros((), dtype=v.dtype)
    model.hypernet.load_state_dict(hyp, strict=True, assign=True)
    info = HyperStyleInfo(source=src, config=cfg, opts=opts, latent_avg=latent_avg,
                          layout="gani-bench" if CONFIG_KEY in opts else "authors")
    if dec:
        G, g_info = decoder_generator(src, path, dec, latent_avg, device)
        model.fit(G, f"{src}:decoder", what=f"HyperStyle {src!r}")
        info.generator, info.generator_info = G, g_info
    return model.to(device).eval().requires_grad_(False), info


def _same_generator(a: nn.Module, b: nn.Module) -> Optional[str]:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    for k, v in pa.items():
        o = pb.get(k)
        if o is None or o.shape != v.shape or not torch.allclose(o.detach().cpu(), v.detach().cpu(), atol=1e-4, rtol=1e-4):
            return k
    return None


def load_hyperstyle(path_or_name: PathLike, device: Device = "cpu", w_encoder: Any = None, *,
                    generator: Any = None) -> Tuple[HyperStyle, HyperStyleInfo]:
    """A HyperStyle from a file, a demo name (``embedded-64-hyperstyle``) or a weights name
    (``hyperstyle-ffhq``, fetched into the cache).

    ``w_encoder``: None, an encoder object (``.encode(images, generator=)``) or anything
    :func:`gani_bench.encoders.load_encoder` accepts; it becomes ``hyperstyle.w_encoder``.
    ``generator``: a Generator (or a name ``load_generator`` knows) the hypernetwork must fit;
    refused in one line naming both when its layers (or the file's decoder) differ.
    """
    from .registry import DEMO_HYPERSTYLES

    name = str(path_or_name)
    p = Path(name)
    if name in DEMO_HYPERSTYLES:
        model, info = DEMO_HYPERSTYLES.get(name).load(device)
        if w_encoder is None:
            w_encoder = DEMO_HYPERSTYLES.get(name).w_encoder
    elif p.is_file():
        model, info = read_hyperstyle_file(p, device)
    else:
        from ..weights import WEIGHTS, fetch

        if name in WEIGHTS and WEIGHTS.get(name).kind == "hyperstyle":
            model, info = read_hyperstyle_file(fetch(name).path, device, source=name)
        elif p.suffix or "/" in name or "\\" in name:
            raise ConfigError(f"HyperStyle file {name!r} does not exist; give an existing path or a registered name")
        else:
            known = ", ".join(list(DEMO_HYPERSTYLES.names()) + [n for n, s in WEIGHTS.items() if s.kind == "hyperstyle"])
            raise ConfigError(f"unknown HyperStyle {name!r}; give a file path or one of: {known}")
    if generator is not None:
        gname = generator if isinstance(generator, str) else "the given generator"
        if isinstance(generator, str):
            from ..generators import load_generator

            generator, _ = load_generator(generator, device)
        model.fit(generator, f"{gname!r}", what=f"HyperStyle {info.source!r}")
        if info.generator is not None:
            bad = _same_generator(info.generator, generator)
            if bad:
                raise ConfigError(f"HyperStyle {info.source!r} was trained with a different generator than {gname!r} "
                                  f"(its decoder differs at {bad}); pass the generator it ships with")
    if w_encoder is not None:
        if isinstance(w_encoder, (str, Path)):
            from ..encoders import load_encoder

            w_encoder, info.w_encoder_info = load_encoder(w_encoder, device)
        model.w_encoder = w_encoder
    return model, info


def save_hyperstyle(model: HyperStyle, path: PathLike, *, decoder: Optional[nn.Module] = None,
                    opts: Optional[Mapping[str, Any]] = None, extra: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``model`` in the authors' layout (their ``HyperStyle`` class can read it)."""
    cfg = model.config
    res = 2 ** ((cfg.n_outputs - 2) // 3 + 2)  # n_outputs = 2 + 3 (log2(res) - 2)
    full = {"encoder_type": "SharedWeightsHyperNetResNetSeparable" if cfg.separable else "SharedWeightsHyperNetResNet",
            "output_size": res, "input_nc": cfg.input_nc, "layers_to_tune": ",".join(map(str, cfg.layers_to_tune)),
            "n_iters_per_batch": 5, CONFIG_KEY: cfg.to_dict()}
    full.update(dict(opts or {}))
    state = {f"hypernet.{k}": v.detach().cpu() for k, v in model.hypernet.state_dict().items()}
    latent_avg = None if model.latent_avg is None else model.latent_avg.detach().cpu()
    return save_authors_checkpoint(path, state, full, decoder=decoder, latent_avg=latent_avg, extra=extra)


__all__ = ["HyperStyleInfo", "load_hyperstyle", "read_hyperstyle_file", "save_hyperstyle", "config_from_opts", "dedupe_shared"]
