"""Read and write encoder files in the authors' layout; ``load_encoder(path_or_name)``.

The layout (pSp, e4e, ReStyle, HyperStyle's W-encoder): a torch file holding
``{'state_dict': {'encoder.*': ..., 'decoder.*': ...}, 'opts': vars(argparse options),
'latent_avg': [512] | [1, 512] | [num_ws, 512]}`` (training files add optimiser state). It is
read with ``torch.load(weights_only=True)`` (``opts`` is a plain dict, which the weights-only
unpickler accepts; any other global is refused in one line). The class comes from
``opts['encoder_type']`` through :data:`ENCODER_KINDS`, the slot count from
``opts['stylegan_size']`` (e4e) or ``opts['output_size']`` (pSp, ReStyle, HyperStyle), the
ReStyle iteration count from ``opts['n_iters_per_batch']``. ``decoder.*`` (rosinality's
StyleGAN2) becomes our Generator through :mod:`gani_bench.checkpoints.rosinality`. Files
written by gani-bench add ``opts['gani_bench_config']`` (the :class:`EncoderConfig`) so small
encoders load without guessing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..checkpoints.loader import GeneratorInfo
from ..checkpoints.rosinality import estimate_w_avg, from_rosinality, read_torch_file
from ..checkpoints.state import construct_generator, finalize, load_state_strict, name_list, state_fingerprint
from ..errors import CheckpointError, ConfigError
from .config import EncoderConfig, num_ws_for_resolution
from .kinds import ENCODER_KINDS, kind_for_encoder_type
from .model import InversionEncoder

PathLike = Union[str, Path]
#: where gani-bench keeps its own EncoderConfig inside ``opts``
CONFIG_KEY = "gani_bench_config"


@dataclass
class EncoderInfo:
    """What a loaded encoder is and where it came from."""

    kind: str
    num_ws: int
    w_dim: int
    input_size: int
    latent_avg: torch.Tensor
    generator: Optional[nn.Module] = None
    generator_info: Optional[GeneratorInfo] = None
    opts: Dict[str, Any] = field(default_factory=dict)
    source: str = ""
    n_iters: int = 1


def config_from_opts(src: str, opts: Mapping[str, Any]) -> EncoderConfig:
    """The EncoderConfig an authors' ``opts`` dict (or ours) describes."""
    if CONFIG_KEY in opts:
        return EncoderConfig.from_dict(opts[CONFIG_KEY])
    if "encoder_type" not in opts:
        raise CheckpointError(f"{src}: opts has no 'encoder_type'; not a pSp/e4e/ReStyle/HyperStyle encoder file")
    kind = kind_for_encoder_type(str(opts["encoder_type"]))
    size = opts.get(kind.size_key, opts.get("stylegan_size", opts.get("output_size", 1024)))
    try:
        num_ws = num_ws_for_resolution(int(size))
    except (TypeError, ValueError):
        raise CheckpointError(f"{src}: opts['{kind.size_key}'] = {size!r} is not a resolution; set it to the generator's (e.g. 1024)") from None
    input_nc = int(opts.get("input_nc", kind.input_nc) or kind.input_nc)
    if input_nc != kind.input_nc:
        raise CheckpointError(f"{src}: opts['input_nc'] = {input_nc} but {opts['encoder_type']} reads {kind.input_nc} channels; "
                              "gani-bench supports the released configurations only")
    # ReStyle and HyperStyle always add latent_avg; pSp/e4e only with start_from_latent_avg
    from_avg = bool(opts.get("start_from_latent_avg", True)) if kind.name in ("psp", "e4e") else True
    return EncoderConfig(kind=kind.name, num_ws=num_ws, input_nc=input_nc,
                         n_iters=int(opts.get("n_iters_per_batch", 5) or 5), start_from_latent_avg=from_avg)


def _style_indices(keys) -> set:
    return {int(m.group(1)) for k in keys for m in [re.match(r"styles\.(\d+)\.", k)] if m}


def check_encoder_state(src: str, cfg: EncoderConfig, opts: Mapping[str, Any], model: nn.Module,
                        state: Mapping[str, torch.Tensor]) -> None:
    """One line for the typical misfits: wrong ``stylegan_size``/``output_size``, missing keys, shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    have, want = _style_indices(state), _style_indices(own)
    if have and have != want and CONFIG_KEY not in opts:
        kind = ENCODER_KINDS.get(cfg.kind)
        n = max(have) + 1
        right = 2 ** ((n + 2) // 2)
        raise CheckpointError(
            f"{src}: the encoder has {n} style blocks (styles.0-{n - 1}) but opts['{kind.size_key}'] = "
            f"{opts.get(kind.size_key)} gives {cfg.num_ws} (unexpected keys {name_list(sorted(set(unexpected) - set(own)), 2)}); "
            f"set opts['{kind.size_key}'] = {right}, the resolution of the generator it was trained for")
    if missing:
        raise CheckpointError(f"{src}: missing {len(missing)} encoder tensor(s) {name_list(missing, 3)}; the file is truncated "
                              f"or holds a different encoder than opts['encoder_type'] says ({cfg.kind})")
    if unexpected:
        raise CheckpointError(f"{src}: unexpected encoder tensor(s) {name_list(unexpected, 3)} for a {cfg.kind} encoder; "
                              "opts['encoder_type'] does not describe this file")
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        raise CheckpointError(f"{src}: mis-shaped encoder tensor(s) {name_list(wrong, 2)}; opts (input_nc, sizes) does "
                              "not describe this file")


def decoder_generator(src: str, path: PathLike, dec: Mapping[str, torch.Tensor], latent_avg: Optional[torch.Tensor],
             device: Union[str, torch.device]) -> Tuple[nn.Module, GeneratorInfo]:
    ckpt: Dict[str, Any] = {"g_ema": dict(dec)}
    if latent_avg is not None:
        ckpt["latent_avg"] = latent_avg.reshape(-1, latent_avg.shape[-1])[0]
    kwargs, state, has_avg = from_rosinality(path, ckpt)
    G = construct_generator(path, kwargs)
    load_state_strict(path, G, state)
    if not has_avg:
        G.mapping.w_avg.copy_(estimate_w_avg(G))
    G = finalize(G, device)
    info = GeneratorInfo(name=f"{src}:decoder", path=None, format="rosinality-pt (encoder decoder)",
                         resolution=int(G.img_resolution), num_ws=int(G.num_ws), w_dim=int(G.w_dim),
                         fingerprint=state_fingerprint(G), metadata={"init_kwargs": kwargs})
    return G, info


def read_encoder_file(path: PathLike, device: Union[str, torch.device] = "cpu", *, source: Optional[str] = None,
                      ) -> Tuple[InversionEncoder, EncoderInfo]:
    """Load one file in the authors' layout (see the module docstring)."""
    src = source or Path(path).name
    ckpt = read_torch_file(path)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise CheckpointError(f"{src}: not an encoder checkpoint (expected a dict with 'state_dict', 'opts', 'latent_avg')")
    opts = dict(ckpt.get("opts") or {})
    cfg = config_from_opts(src, opts)
    sd = ckpt["state_dict"]
    enc_state = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    dec_state = {k[len("decoder."):]: v for k, v in sd.items() if k.startswith("decoder.")}
    if not enc_state:
        raise CheckpointError(f"{src}: the state_dict has no 'encoder.*' tensors; is it a generator or a HyperStyle "
                              "hypernetwork file rather than an encoder?")
    latent_avg = ckpt.get("latent_avg")
    generator = generator_info = None
    if dec_state:
        generator, generator_info = decoder_generator(src, path, dec_state, latent_avg, device)
    if latent_avg is None:
        if cfg.start_from_latent_avg and generator is None:
            raise CheckpointError(f"{src}: no 'latent_avg' and no decoder to estimate it from; the file is incomplete")
        latent_avg = generator.mapping.w_avg.detach().cpu() if generator is not None else torch.zeros(cfg.w_dim)
    model = InversionEncoder(cfg, _checked_avg(src, latent_avg, cfg))
    check_encoder_state(src, cfg, opts, model.encoder, enc_state)
    model.encoder.load_state_dict(enc_state, strict=False)
    model = model.to(device).eval().requires_grad_(False)
    if generator is not None and (generator.num_ws, generator.w_dim) != (cfg.num_ws, cfg.w_dim):
        raise CheckpointError(f"{src}: the encoder writes {cfg.num_ws} x {cfg.w_dim} latents but its decoder takes "
                              f"{generator.num_ws} x {generator.w_dim}; the opts sizes are wrong")
    info = EncoderInfo(kind=cfg.kind, num_ws=cfg.num_ws, w_dim=cfg.w_dim, input_size=cfg.input_size,
                       latent_avg=model.latent_avg, generator=generator, generator_info=generator_info, opts=opts,
                       source=src, n_iters=cfg.n_iters if model.iterative else 1)
    return model, info


def _checked_avg(src: str, latent_avg: Any, cfg: EncoderConfig) -> torch.Tensor:
    if not isinstance(latent_avg, torch.Tensor):
        raise CheckpointError(f"{src}: latent_avg is a {type(latent_avg).__name__}, not a tensor")
    t = latent_avg.reshape(-1, latent_avg.shape[-1]) if latent_avg.ndim else latent_avg
    if t.ndim != 2 or t.shape[-1] != cfg.w_dim or t.shape[0] not in (1, cfg.num_ws):
        raise CheckpointError(f"{src}: latent_avg has shape {tuple(latent_avg.shape)}; expected [{cfg.w_dim}], "
                              f"[1, {cfg.w_dim}] or [{cfg.num_ws}, {cfg.w_dim}]")
    return t.float()


def load_encoder(path_or_name: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[InversionEncoder, EncoderInfo]:
    """An encoder from a file path, a demo encoder name (``embedded-64-e4e``) or a weights name
    (``e4e-ffhq-encode``, fetched into the cache). Returns ``(encoder, EncoderInfo)``."""
    from .registry import DEMO_ENCODERS

    name = str(path_or_name)
    if name in DEMO_ENCODERS:
        return DEMO_ENCODERS.get(name).load(device)
    p = Path(name)
    if p.is_file():
        return read_encoder_file(p, device)
    from ..weights import WEIGHTS, fetch

    if name in WEIGHTS and WEIGHTS.get(name).kind == "encoder":
        local = fetch(name)
        return read_encoder_file(local.path, device, source=name)
    if p.suffix or "/" in name or "\\" in name:
        raise ConfigError(f"encoder file {name!r} does not exist; give an existing path or a name from `gani-bench encoders list`")
    known = ", ".join(list(DEMO_ENCODERS.names()) + [n for n, s in WEIGHTS.items() if s.kind == "encoder"])
    raise ConfigError(f"unknown encoder {name!r}; give a file path or one of: {known}")


def check_encoder_generator(info: EncoderInfo, G: nn.Module, generator_name: str, *, atol: float = 1e-4) -> None:
    """Refuse (one line naming both) an encoder whose latents or decoder do not fit ``G``."""
    if (info.num_ws, info.w_dim) != (int(G.num_ws), int(G.w_dim)):
        raise ConfigError(f"encoder {info.source!r} writes {info.num_ws} x {info.w_dim} latents but generator "
                          f"{generator_name!r} takes {int(G.num_ws)} x {int(G.w_dim)}; use an encoder trained for "
                          f"{generator_name} (`gani-bench train ... --generator {generator_name}`)")
    if info.generator is None:
        return
    theirs = dict(info.generator.named_parameters())
    ours = dict(G.named_parameters())
    for k, v in theirs.items():
        o = ours.get(k)
        if o is None or o.shape != v.shape or not torch.allclose(o.detach().cpu(), v.detach().cpu(), atol=atol, rtol=1e-4):
            raise ConfigError(f"encoder {info.source!r} was trained with a different generator than {generator_name!r} "
                              f"(its decoder differs at {k}); pass the generator it ships with or retrain the encoder")


def save_encoder(model: InversionEncoder, path: PathLike, *, opts: Optional[Mapping[str, Any]] = None,
                 decoder: Optional[nn.Module] = None, extra: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``model`` in the authors' layout (their code can read it; so can ``load_encoder``).

    ``decoder`` (our Generator) is stored as rosinality ``decoder.*`` tensors when given.
    """
    from ..checkpoints.rosinality import save_authors_checkpoint

    cfg = model.config
    kind = ENCODER_KINDS.get(cfg.kind)
    full_opts = {"encoder_type": kind.encoder_types[0], kind.size_key: 2 ** ((cfg.num_ws + 2) // 2),
                 "input_nc": cfg.input_nc, "n_iters_per_batch": cfg.n_iters,
                 "start_from_latent_avg": cfg.start_from_latent_avg, CONFIG_KEY: cfg.as_dict()}
    full_opts.update(dict(opts or {}))
    state = {f"encoder.{k}": v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}
    return save_authors_checkpoint(path, state, full_opts, decoder=decoder,
                                   latent_avg=model.latent_avg.detach().cpu().clone(), extra=extra)


