"""The inversion-method interface, its result record, presets and the method registry.

Every method (here and in ``baselines/``) is a class with a dataclass ``Config`` whose defaults
are the paper's, a ``presets`` mapping of named overrides (``paper`` is always the defaults,
``fast`` is for the CPU demo and CI), and an ``invert`` that takes a whole batch.
"""
from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Iterator, List, Mapping, Optional

import torch

from ..errors import ConfigError
from ..registry import Registry
from .catalog import Card, adopt_card
from .configs import standard_presets  # noqa: F401  (re-exported: where methods used to find it)


@dataclass
class InversionResult:
    """What a method returns for a batch of N targets.

    ``weight_deltas`` are kept as deltas (name -> tensor shaped like the generator's parameter,
    names as in ``Generator.named_parameters()``), never as copies of the generator.
    """

    #: [N, num_ws, w_dim]; W-space methods repeat the single w across num_ws
    latents: torch.Tensor
    #: "w" or "w+"
    latent_space: str
    #: [N, 3, H, W] in [-1, 1], at the generator's resolution
    reconstruction: torch.Tensor
    #: one dict per image, or None when the method does not tune the generator
    weight_deltas: Optional[List[Dict[str, torch.Tensor]]] = None
    #: per-stage wall seconds *per image* (device-synchronised), e.g. {"pivot": .., "tune": ..}
    stage_seconds: Dict[str, float] = field(default_factory=dict)
    #: per image: list of loss values, one per step (all stages concatenated)
    loss_curves: List[List[float]] = field(default_factory=list)
    #: per image: number of optimisation steps run per stage
    steps: List[Dict[str, int]] = field(default_factory=list)
    #: noise buffers used for the reconstruction (name -> [N, ...]) if the method optimised them
    noise: Optional[Dict[str, torch.Tensor]] = None
    #: the encoder behind the latents (images -> latents), for LEC; None for optimisation methods
    encoder: Optional[Any] = None

    @property
    def total_seconds(self) -> float:
        return float(sum(self.stage_seconds.values()))


class StageTimer:
    """Accumulates device-synchronised wall time per named stage."""

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.seconds: Dict[str, float] = {}

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def per_image(self, n: int) -> Dict[str, float]:
        """Each stage's seconds divided by the batch size ``n``.

        A method times its whole batch, but ``InversionResult.stage_seconds`` is per image so
        that results of runs with different batch sizes compare; this is that one division.
        """
        return {name: seconds / n for name, seconds in self.seconds.items()}


class Configured:
    """What methods and stages share: readable metadata, a dataclass ``Config`` with named
    presets, and the run's generator name.

    A built-in method's or stage's metadata lives on its :class:`~gani_bench.methods.catalog.Card`
    (torch-free, so ``methods list`` need not import torch); ``card = ...`` in the class body
    copies it onto the class attributes below. A plugin may set the attributes directly.
    """

    card: ClassVar[Optional[Card]] = None

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: where the algorithm and its defaults come from (shown in ``methods list`` and the README)
    source: ClassVar[str] = ""
    Config: ClassVar[type] = object
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {"paper": {}}
    #: True if it tunes generator weights (results carry ``weight_deltas``)
    tunes_generator: ClassVar[bool] = False
    #: what messages call it: "method" or "stage"
    role: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        adopt_card(cls)

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        #: the run's generator name (registered name or file), set by the runner; None in bare API use
        self.generator_name: Optional[str] = None

    @classmethod
    def make_config(cls, preset: str = "paper", overrides: Optional[Mapping[str, Any]] = None) -> Any:
        """Build ``Config`` from a preset plus ``key=value`` overrides (strings are parsed)."""
        return config_from_preset(cls, preset, overrides, owner=f"{cls.role} {cls.name!r}")


class InversionMethod(Configured):
    """Base class of methods: set ``card`` (or ``name``, ``Config``, ``presets``...) and implement ``invert``."""

    role: ClassVar[str] = "method"

    @classmethod
    def accepts(cls, key: str) -> bool:
        """Whether ``--set key=value`` can go to this method (a field of its ``Config``)."""
        return key in {f.name for f in dataclasses.fields(cls.Config)}

    def invert(
        self,
        generator: torch.nn.Module,
        targets: torch.Tensor,
        *,
        seed: int = 0,
    ) -> InversionResult:
        """Invert ``targets`` ([N, 3, H, W] in [-1, 1], at the generator's resolution)."""
        raise NotImplementedError


def _parse_value(text: str, like: Any) -> Any:
    """Parse a CLI string to the type of the field's default."""
    if not isinstance(text, str):
        return text
    if isinstance(like, bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    if isinstance(like, (tuple, list)):
        items = [t for t in text.replace(" ", "").strip("()[]").split(",") if t]
        inner = like[0] if like else ""
        return type(like)(_parse_value(t, inner) for t in items)
    if like is None:
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                continue
        return None if text.lower() == "none" else text
    return text


def config_from_preset(cls: Any, preset: str, overrides: Optional[Mapping[str, Any]], *, owner: str) -> Any:
    """``cls.Config`` from ``cls.presets[preset]`` plus overrides; one line for an unknown preset.

    Shared by methods and stages (``methods/stages.py``), whose presets work the same way.
    """
    if preset not in cls.presets:
        raise ConfigError(f"{owner} has no preset {preset!r}; valid presets: {', '.join(cls.presets)}")
    values: Dict[str, Any] = dict(cls.presets[preset])
    values.update(overrides or {})
    return build_config(cls.Config, values, owner=owner)


def build_config(config_cls: type, values: Mapping[str, Any], *, owner: str) -> Any:
    """Instantiate a dataclass config, refusing unknown keys and ill-typed values in one line."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    defaults = config_cls()
    kwargs: Dict[str, Any] = {}
    for key, raw in values.items():
        if key not in fields:
            raise ConfigError(f"{owner} has no config field {key!r}; valid fields: {', '.join(fields)}")
        try:
            kwargs[key] = _parse_value(raw, getattr(defaults, key))
        except ValueError as exc:
            raise ConfigError(f"{owner}: bad value for {key}={raw!r}: {exc}") from None
    return dataclasses.replace(defaults, **kwargs)


def config_to_dict(config: Any) -> Dict[str, Any]:
    return dataclasses.asdict(config)


class MethodRegistry(Registry[type]):
    """:data:`METHODS`: registered methods, plus any ``EMBEDDING+REFINEMENT`` name composed on demand.

    Only the registered names are listed (and make up ``--method all``); a composed name such as
    ``restyle_e4e+gani`` is built from the stage registries the first time it is asked for, so
    every pairing works without registering each one (``methods/compose.py``).
    """

    def registered(self, name: str) -> Optional[type]:
        """The class registered under ``name`` (no composition), or None."""
        return self._items.get(name)

    def get(self, name: str) -> type:
        if name not in self._items and isinstance(name, str) and "+" in name:
            from .compose import composed_method

            return composed_method(name)
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        if super().__contains__(name):
            return True
        if not (isinstance(name, str) and "+" in name):
            return False
        from ..errors import GaniBenchError

        try:
            self.get(name)
        except GaniBenchError:
            return False
        return True


METHODS: MethodRegistry = MethodRegistry("method")
