"""Sizes of HyperStyle's hypernetwork: the authors' layouts (1024/512/256 px) and small ones.

The hypernetwork emits one offset per generator layer *index*: 0 = the first conv (4 px),
1 = the first ToRGB, then per resolution the up-sampling conv, the conv and the ToRGB. The
authors hard-code the kernel/channel table of the FFHQ config-f generator (``PARAMETERS`` in
their ``models/hypernetworks/refinement_blocks.py``, ``[kernel, in, out]``); their 512 and
256 px models use its first 23 / 20 rows (config-f channels depend on the absolute resolution
only, so the rows are the same layers). :func:`authors_config` reproduces that table;
:func:`config_for_generator` derives the table from any of our generators and picks narrower
widths, so the same classes serve the embedded 64 px generator on a CPU.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Tuple

from ..errors import ConfigError

Layer = Tuple[int, int, int]  # (kernel, in_channels, out_channels), the authors' PARAMETERS order


def _config_f_table(n: int) -> Tuple[Layer, ...]:
    """The authors' PARAMETERS rows 0..n-1: config-f channels min(32768 / res, 512)."""
    rows: List[Layer] = [(3, 512, 512), (1, 512, 3)]
    res, ch = 8, 512
    while len(rows) < n:
        nxt = min(32768 // res, 512)
        rows += [(3, ch, nxt), (3, nxt, nxt), (1, nxt, 3)]
        ch, res = nxt, res * 2
    return tuple(rows[:n])


#: output size -> number of hypernetwork outputs (the authors' ``set_hypernet``)
N_OUTPUTS: Dict[int, int] = {1024: 26, 512: 23, 256: 20}
#: the authors' 512x512x3x3 layers, served by the one shared hypernet
AUTHORS_SHARED_LAYERS: Tuple[int, ...] = (0, 2, 3, 5, 6, 8, 9, 11, 12)
#: the authors' default ``--layers_to_tune`` (every non-ToRGB layer of the 1024 px generator)
AUTHORS_LAYERS_TO_TUNE: Tuple[int, ...] = (0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24)


@dataclass
class HyperNetConfig:
    """Everything that fixes the hypernetwork's parameter shapes.

    ``layers[i]`` describes generator layer index ``i``; ``layers_to_tune`` get an output,
    the others ``None``. ``shared_layers`` (3x3, ``shared_size`` in and out) share one
    ``SharedWeightsHypernet`` whose code width is ``code_channels``. The body is a ResNet34
    (``stage_blocks`` BasicBlocks of ``stage_channels``) whose last width feeds every
    refinement block. ``input_size``: the hypernetwork's input resolution (authors: 256);
    its feature map is ``input_size / 16`` (the authors' ``spatial = 16``).
    """

    layers: Tuple[Layer, ...]
    layers_to_tune: Tuple[int, ...]
    shared_layers: Tuple[int, ...] = AUTHORS_SHARED_LAYERS
    input_nc: int = 6
    input_size: int = 256
    stem_channels: int = 64
    stage_channels: Tuple[int, ...] = (64, 128, 256, 512)
    stage_blocks: Tuple[int, ...] = (3, 4, 6, 3)
    code_channels: int = 512
    shared_size: int = 512
    hyper_inner: int = 128
    refine_inner: int = 256
    separable: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layers = tuple(tuple(int(v) for v in l) for l in self.layers)  # type: ignore[assignment]
        for name in ("layers_to_tune", "shared_layers", "stage_channels", "stage_blocks"):
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))
        bad = [i for i in self.layers_to_tune if not 0 <= i < len(self.layers)]
        if bad:
            raise ConfigError(f"layers_to_tune={list(self.layers_to_tune)} names layer {bad[0]}, but the generator has layers 0..{len(self.layers) - 1}")
        for i in self.shared_layers:
            if i in self.layers_to_tune and self.layers[i] != (3, self.shared_size, self.shared_size):
                raise ConfigError(f"shared_layers: layer {i} is {self.layers[i]} (kernel, in, out), not (3, {self.shared_size}, {self.shared_size}); the shared hypernet only emits those kernels")
        if self.input_size % 16 or self.spatial < 2:
            raise ConfigError(f"input_size={self.input_size}: use a multiple of 16 of at least 32 (the body divides it by 16)")

    @property
    def spatial(self) -> int:
        return self.input_size // 16

    @property
    def n_outputs(self) -> int:
        return len(self.layers)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["layers"] = [list(l) for l in self.layers]
        for k in ("layers_to_tune", "shared_layers", "stage_channels", "stage_blocks"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "HyperNetConfig":
        return cls(**d)


def authors_config(output_size: int = 1024, layers_to_tune: Tuple[int, ...] | str | None = None, separable: bool = False) -> HyperNetConfig:
    """The released models' layout (``SharedWeightsHyperNetResNet`` / ``...Separable``)."""
    if output_size not in N_OUTPUTS:
        raise ConfigError(f"output_size={output_size}: HyperStyle's layouts exist for {sorted(N_OUTPUTS)} px")
    n = N_OUTPUTS[output_size]
    if layers_to_tune is None:
        tune: Tuple[int, ...] = AUTHORS_LAYERS_TO_TUNE
    elif isinstance(layers_to_tune, str):
        tune = tuple(int(v) for v in layers_to_tune.split(",")) if layers_to_tune.strip() else tuple(range(n))
    else:
        tune = tuple(layers_to_tune)
    # the authors' loop over range(n_outputs) ignores indices past the last layer (their default
    # list, written for 1024 px, is also used at 512 and 256 px)
    tune = tuple(i for i in tune if i < n)
    return HyperNetConfig(layers=_config_f_table(n), layers_to_tune=tune, separable=separable)


def generator_layer_table(G: Any) -> List[Tuple[str, Layer]]:
    """``(parameter name, (kernel, in, out))`` per hypernetwork index for our Generator."""
    from ..stylegan2.functional import per_sample_parameter_names

    params = dict(G.named_parameters())
    out = []
    for name in per_sample_parameter_names(G):
        o, i, k, _ = params[name].shape
        out.append((name, (int(k), int(i), int(o))))
    return out


def config_for_generator(G: Any, *, width: int = 32, code_channels: int = 32, input_size: int = 64,
                         blocks: Tuple[int, ...] = (1, 1, 1, 1), tune_torgb: bool = False) -> HyperNetConfig:
    """A small layout for any generator (e.g. the embedded 64 px one on a CPU).

    Same classes and structure as the authors'; narrower (``width`` doubles per stage up to
    4x), shallower (``blocks``), a small shared code (``code_channels``) and a small input
    (``input_size``). The shared hypernet serves every tuned 3x3 layer whose in and out equal
    the generator's widest channel count, as the authors' serves their 512-channel layers.
    """
    table = [layer for _, layer in generator_layer_table(G)]
    tune = tuple(i for i, l in enumerate(table) if tune_torgb or l[0] != 1)
    size = max(l[2] for l in table if l[0] == 3)
    shared = tuple(i for i in tune if table[i] == (3, size, size))
    return HyperNetConfig(layers=tuple(table), layers_to_tune=tune, shared_layers=shared, input_size=input_size,
                          stem_channels=width, stage_channels=tuple(width * min(2 ** s, 4) for s in range(4)),
                          stage_blocks=blocks, code_channels=code_channels, shared_size=size,
                          hyper_inner=max(width, 16), refine_inner=max(width, 16))


def check_fits(cfg: HyperNetConfig, G: Any, what: str, generator: str) -> List[str]:
    """The generator parameter names per index; one-line error when the layouts differ."""
    table = generator_layer_table(G)
    ours = [l for _, l in table]
    if len(ours) != cfg.n_outputs:
        raise ConfigError(f"{what} does not fit generator {generator}: it emits offsets for {cfg.n_outputs} layers, the generator "
                          f"has {len(ours)} modulated layers; use the generator the hypernetwork was trained with")
    bad = next((i for i, (a, b) in enumerate(zip(ours, cfg.layers)) if a != b), None)
    if bad is not None:
        raise ConfigError(f"{what} does not fit generator {generator}: layer {bad} ({table[bad][0]}) is (kernel, in, out) = "
                          f"{ours[bad]} in the generator but {cfg.layers[bad]} in the hypernetwork; use the generator it was trained with")
    return [name for name, _ in table]


def log2_int(v: int) -> int:
    return int(round(math.log2(v)))


__all__ = ["HyperNetConfig", "authors_config", "config_for_generator", "generator_layer_table", "check_fits",
           "N_OUTPUTS", "AUTHORS_SHARED_LAYERS", "AUTHORS_LAYERS_TO_TUNE"]
