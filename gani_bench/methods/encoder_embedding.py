"""Encoders as embedding stages (and plain methods): ``psp``, ``e4e``, ``restyle_psp``, ``restyle_e4e``,
``w_encoder``.

Each stage runs :func:`gani_bench.encoders.load_encoder`'s encoder with the authors' inference
rules (resize to the encoder's input, ``latent_avg`` added; ReStyle iterates ``n_iters`` times
with the run's generator) and times it as stage ``encode`` (device-synchronised, per image).

Which encoder file: the config field ``encoder`` (a name from ``gani-bench encoders list``, a
weights name, or a file in the authors' layout); empty = the encoder registered for the run's
generator in :data:`DEFAULT_ENCODERS`. No registered encoder, or its file absent, is one line
(:class:`~gani_bench.errors.WeightsUnavailable`, so the runner says it once per method) with the
command that fixes it; an encoder is never replaced by random weights. An encoder that does not
fit the generator (``num_ws``/``w_dim``, or a decoder that differs) is refused in one line naming both.

The result carries the encoder, so LEC (``metrics/lec.py``) re-encodes with the method's own
encoder, also after a refinement (``e4e+pti``).
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, Optional, Sequence, Tuple

import torch

from ..errors import WeightsUnavailable
from .base import StageTimer
from .catalog import EMBEDDING_CARDS
from .compose import embedding_method
from .configs import EncoderStageConfig, IterativeEncoderStageConfig  # noqa: F401  (re-exported)
from .stages import EMBEDDINGS, Embedding, EmbeddingStage

#: generator name -> {encoder kind: encoder name for ``load_encoder``}. The demo generator's are
#: the small encoders shipped in the package (trained by ``gani-bench train``, docs/encoders.md);
#: FFHQ's are the authors' released files (weight registry, fetched by ``gani-bench weights download``).
_FFHQ = {"psp": "psp-ffhq-encode", "e4e": "e4e-ffhq-encode", "restyle_psp": "restyle-psp-ffhq-encode",
         "restyle_e4e": "restyle-e4e-ffhq-encode", "w_encoder": "hyperstyle-faces-w-encoder"}
DEFAULT_ENCODERS: Dict[str, Dict[str, str]] = {
    "embedded-64": {k: f"embedded-64-{k}" for k in ("psp", "e4e", "restyle_e4e", "w_encoder")},
    "stylegan2-ffhq-1024": dict(_FFHQ),
    "stylegan2-ffhq-1024-rosinality": dict(_FFHQ),
    "stylegan2-cars-512": {"e4e": "e4e-cars-encode", "restyle_psp": "restyle-psp-cars-encode",
                           "restyle_e4e": "restyle-e4e-cars-encode", "w_encoder": "hyperstyle-cars-w-encoder"},
}


def default_encoder(kind: str, generator_name: Optional[str]) -> str:
    """The encoder registered for ``generator_name`` and ``kind``, or one line saying how to get one."""
    if generator_name is None:
        raise WeightsUnavailable(f"{kind}: no encoder given and the generator has no registered name; set the config "
                                 f"field encoder=NAME_OR_FILE (--set {kind}.encoder=...)")
    name = DEFAULT_ENCODERS.get(generator_name, {}).get(kind)
    if name is None:
        shown = display_name(generator_name)
        raise WeightsUnavailable(
            f"{kind}: no {kind} encoder is registered for generator {shown!r}; pass one with --set "
            f"{kind}.encoder=FILE (authors' layout) or train one: gani-bench train {kind} --generator {shown} "
            f"--synthetic 2048 --out DIR")
    return name


def display_name(generator_name: str) -> str:
    """A registered name as it is; a checkpoint path by its file name (no machine paths in messages)."""
    from pathlib import Path

    return Path(generator_name).name if ("/" in generator_name or "\\" in generator_name) else generator_name


def _is_missing_download(name: str) -> bool:
    """A weights-registry encoder that is not in the cache (checked before any download is tried)."""
    from ..weights import WEIGHTS, missing_weights_reason

    return name in WEIGHTS and missing_weights_reason(name) is not None


class EncoderEmbedding(EmbeddingStage):
    """One encoder kind; subclasses set ``card`` (name, summary, config: ``catalog.py``) and ``kind``."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = "encode"
    space: ClassVar[str] = "w+"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._loaded: Dict[Tuple[str, str, int], Tuple[Any, Any]] = {}

    @classmethod
    def available_for(cls, generator: str) -> Optional[str]:
        if cls.kind not in DEFAULT_ENCODERS.get(generator, {}):
            return f"no {cls.kind} encoder is registered for generator {generator!r}"
        return None

    def encoder_name(self) -> str:
        return self.config.encoder or default_encoder(self.kind, self.generator_name)

    def load(self, generator: torch.nn.Module, device: torch.device) -> Tuple[Any, Any]:
        """(encoder, EncoderInfo), loaded once per stage object and checked against ``generator``."""
        from ..encoders import check_encoder_generator, load_encoder

        name = self.encoder_name()
        key = (name, str(device), id(generator))
        if key not in self._loaded:
            if _is_missing_download(name):
                raise WeightsUnavailable(f"{self.name}: encoder weights {name!r} are not downloaded; "
                                         f"run: gani-bench weights download {name}")
            encoder, info = load_encoder(name, device=device)
            if info.kind != self.kind:
                from ..errors import ConfigError

                raise ConfigError(f"{self.name}: encoder {name!r} is a {info.kind} encoder, not {self.kind}; "
                                  f"use it with --method {info.kind}")
            check_encoder_generator(info, generator, display_name(self.generator_name or "the run's generator"))
            self._loaded[key] = (encoder, info)
        return self._loaded[key]

    def encode_fn(self, encoder: Any, generator: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """images -> latents with this stage's settings (also what LEC re-encodes with)."""
        iterative = bool(getattr(encoder, "iterative", False))
        n_iters = getattr(self.config, "n_iters", None)

        def encode(images: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                if iterative:
                    return encoder.encode(images, generator=generator, n_iters=n_iters)
                return encoder.encode(images)

        return encode

    def embed(self, generator: torch.nn.Module, targets: torch.Tensor, *, seeds: Sequence[int],
              timer: StageTimer) -> Embedding:
        encoder, _info = self.load(generator, targets.device)
        encode = self.encode_fn(encoder, generator)
        with timer.stage(self.label):
            latents = encode(targets).detach()
        n = targets.shape[0]
        return Embedding(latents=latents, latent_space=self.space, loss_curves=[[] for _ in range(n)],
                         steps=[{self.label: 0} for _ in range(n)], encoder=encode)


def _encoder_stage(kind: str, *, space: str = "w+") -> type:
    """The embedding stage (and method) of one encoder kind; its card is in ``catalog.py``."""
    cls = type("".join(p.capitalize() for p in kind.split("_")) + "Embedding", (EncoderEmbedding,),
               {"card": EMBEDDING_CARDS.get(kind), "kind": kind, "space": space})
    EMBEDDINGS.add(kind, cls)
    embedding_method(cls)
    return cls


PSPEmbedding = _encoder_stage("psp")
E4EEmbedding = _encoder_stage("e4e")
RestylePSPEmbedding = _encoder_stage("restyle_psp")
RestyleE4EEmbedding = _encoder_stage("restyle_e4e")
WEncoderEmbedding = _encoder_stage("w_encoder", space="w")
