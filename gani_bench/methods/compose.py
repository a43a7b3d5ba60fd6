"""Methods made of stages: ``EMBEDDING`` alone, ``EMBEDDING+REFINEMENT``, and the curated combinations.

* :class:`EmbeddingMethod` - one embedding stage as a method (``sg2_w``, ``e4e``, ...). Its
  ``Config`` *is* the stage's config (flat), so ``--set steps=..`` and stored configs read as before.
* :class:`ComposedMethod` - an embedding followed by a refinement, named ``e4e+pti``. Its
  ``Config`` nests one dataclass per stage under the stage's name, ``{"e4e": {...}, "pti": {...}}``,
  so two stages may share a field name (``perceptual``, ``mse_weight``) without ambiguity.
  ``--set`` keys: ``field`` goes to every stage that has it (as a bare key goes to every method
  that has it), ``stage.field`` to that stage only; ``e4e+pti.pti.tune_steps=10`` names both.
  Presets are the stages' presets of the same name, applied stage by stage.
* :func:`composed_method` builds (and caches) the class for a name; :data:`METHODS` calls it for
  any ``a+b`` name, so every pairing works without being registered.
* :data:`CURATED` - the combinations registered as methods, hence part of ``--method all``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple

import torch

from ..errors import ConfigError, UnknownNameError
from .base import METHODS, InversionMethod, InversionResult
from .catalog import CURATED, Card, camel_case, compose_card
from .stages import EMBEDDINGS, REFINEMENTS, EmbeddingStage, RefinementStage, run_stages


class StagedMethod(InversionMethod):
    """A method whose ``invert`` is :func:`run_stages` on the stages ``stages()`` returns."""

    #: the embedding stage class (its ``available_for`` decides whether ``--method all`` runs this)
    embedding_stage: ClassVar[type] = EmbeddingStage

    @classmethod
    def available_for(cls, generator: str) -> Optional[str]:
        """None when the method can run on ``generator`` by default, else one line why not."""
        return cls.embedding_stage.available_for(generator)

    def stages(self) -> Tuple[EmbeddingStage, Optional[RefinementStage]]:
        raise NotImplementedError

    def bound_stages(self) -> Tuple[EmbeddingStage, Optional[RefinementStage]]:
        embedding, refinement = self.stages()
        for stage in (embedding, refinement):
            if stage is not None:
                stage.generator_name = self.generator_name
        return embedding, refinement

    def invert(self, generator: torch.nn.Module, targets: torch.Tensor, *, seed: int = 0) -> InversionResult:
        embedding, refinement = self.bound_stages()
        return run_stages(embedding, refinement, generator, targets, seed)


class EmbeddingMethod(StagedMethod):
    """One embedding stage as a method; subclasses set ``embedding_stage`` (Config/presets follow)."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._stage: Optional[EmbeddingStage] = None

    def stages(self) -> Tuple[EmbeddingStage, Optional[RefinementStage]]:
        # one stage object per method object, so what it loads (an encoder) is loaded once per run
        if self._stage is None or self._stage.config is not self.config:
            self._stage = self.embedding_stage(self.config)
        return self._stage, None


def embedding_method(stage: type, *, register: bool = True) -> type:
    """The plain method of an embedding stage, registered under the stage's name."""
    cls = type(stage.__name__.replace("Embedding", "") + "Method", (EmbeddingMethod,), {
        "name": stage.name, "summary": stage.summary, "source": stage.source, "Config": stage.Config,
        "presets": stage.presets, "tunes_generator": False, "embedding_stage": stage,
        "__doc__": f"The {stage.name} embedding as a method (no refinement).",
    })
    if register:
        METHODS.add(stage.name, cls)
    return cls


class ComposedMethod(StagedMethod):
    """``embedding_stage`` followed by ``refinement_stage``; see the module docstring for config/--set."""

    embedding_stage: ClassVar[type] = EmbeddingStage
    refinement_stage: ClassVar[type] = RefinementStage

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._stages: Optional[Tuple[EmbeddingStage, RefinementStage]] = None

    @classmethod
    def available_for(cls, generator: str) -> Optional[str]:
        return cls.embedding_stage.available_for(generator) or cls.refinement_stage.available_for(generator)

    @classmethod
    def stage_classes(cls) -> Dict[str, type]:
        return {cls.embedding_stage.name: cls.embedding_stage, cls.refinement_stage.name: cls.refinement_stage}

    @classmethod
    def accepts(cls, key: str) -> bool:
        head, _, tail = key.partition(".")
        stages = cls.stage_classes()
        if tail:
            return head in stages and tail in _field_names(stages[head].Config)
        return any(key in _field_names(s.Config) for s in stages.values())

    @classmethod
    def make_config(cls, preset: str = "paper", overrides: Optional[Mapping[str, Any]] = None) -> Any:
        if preset not in cls.presets:
            raise ConfigError(f"method {cls.name!r} has no preset {preset!r}; valid presets: {', '.join(cls.presets)}")
        stages = cls.stage_classes()
        per_stage: Dict[str, Dict[str, Any]] = {s: {} for s in stages}
        for key, value in (overrides or {}).items():
            head, _, tail = key.partition(".")
            if tail and head in stages:
                per_stage[head][tail] = value  # the stage refuses an unknown field in one line
                continue
            takers = [s for s, stage in stages.items() if key in _field_names(stage.Config)]
            if not takers:
                fields = [f"{s}.{f}" for s, stage in stages.items() for f in _field_names(stage.Config)]
                raise ConfigError(f"method {cls.name!r} has no config field {key!r}; valid fields: {', '.join(fields)}")
            for s in takers:
                per_stage[s][key] = value
        values = {s: stage.make_config(preset, per_stage[s]) for s, stage in stages.items()}
        return cls.Config(**values)

    def stages(self) -> Tuple[EmbeddingStage, Optional[RefinementStage]]:
        if self._stages is None:
            e, r = self.embedding_stage, self.refinement_stage
            self._stages = (e(getattr(self.config, e.name)), r(getattr(self.config, r.name)))
        return self._stages


def _field_names(config_cls: type) -> List[str]:
    return [f.name for f in dataclasses.fields(config_cls)]


_COMPOSED: Dict[str, type] = {}


def stage_catalogue() -> str:
    """``embeddings: ...; refinements: ...`` (for one-line errors and ``methods list``)."""
    return f"embeddings: {', '.join(EMBEDDINGS.names())}; refinements: {', '.join(REFINEMENTS.names())}"


def composed_method(name: str) -> type:
    """The method class for ``EMBEDDING+REFINEMENT`` (built once, then cached)."""
    registered = METHODS.registered(name)  # a registered combination (curated, or a plugin's own)
    if registered is not None:
        return registered
    if name in _COMPOSED:
        return _COMPOSED[name]
    from ..plugins import load_plugins

    load_plugins()  # the stages register on import of their modules
    return METHODS.registered(name) or _compose(name)


def _compose(name: str) -> type:
    if name in _COMPOSED:
        return _COMPOSED[name]
    parts = name.split("+")
    if len(parts) != 2 or not all(parts):
        raise UnknownNameError(f"method {name!r}: write EMBEDDING+REFINEMENT (one of each); {stage_catalogue()}")
    emb_name, ref_name = parts
    if emb_name not in EMBEDDINGS:
        raise UnknownNameError(f"method {name!r}: {emb_name!r} is not an embedding; {stage_catalogue()}")
    if ref_name not in REFINEMENTS:
        raise UnknownNameError(f"method {name!r}: {ref_name!r} is not a refinement; {stage_catalogue()}")
    cls = make_composed(EMBEDDINGS.get(emb_name), REFINEMENTS.get(ref_name), name=name)
    _COMPOSED[name] = cls
    return cls


def make_composed(embedding: type, refinement: type, *, name: Optional[str] = None, summary: str = "",
                  source: str = "", card: Optional[Card] = None) -> type:
    """A :class:`ComposedMethod` subclass for the two stage classes (its card: ``catalog.compose_card``)."""
    card = card or compose_card(embedding, refinement, name=name, summary=summary, source=source)
    return type(f"{camel_case(embedding.name)}{camel_case(refinement.name)}Method", (ComposedMethod,), {
        "card": card, "embedding_stage": embedding, "refinement_stage": refinement})


def register_curated(names: Tuple[str, ...] = CURATED) -> None:
    """Register the curated combinations whose stages exist (called once the plugins are loaded)."""
    for name in names:
        if METHODS.registered(name) is not None:
            continue
        emb, _, ref = name.partition("+")
        if emb in EMBEDDINGS and ref in REFINEMENTS:
            METHODS.add(name, _compose(name))
