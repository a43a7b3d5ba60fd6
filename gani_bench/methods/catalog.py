"""What each built-in method and stage is (name, summary, source, config, presets), without torch.

Why: the registries of :mod:`gani_bench.methods.base` and :mod:`~gani_bench.methods.stages` hold
the implementations, and filling them imports torch (1-3 s). A *card* is the part a person reads
(``gani-bench methods list``) and the part config parsing needs; the implementation classes take
their metadata from their card (``card = ...`` in the class body, see ``adopt_card``), so the two
cannot drift apart. :func:`cards_describe_installed_plugins` says whether the cards are the whole
story (no third-party entry point, no plugin module the catalogue does not know); otherwise the
caller loads the plugins and reads the registries. ``tests/test_method_catalog.py`` checks that
the cards and the loaded registries agree, method by method, field by field.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Mapping, Optional, Tuple

from ..registry import Registry
from . import configs as C


@dataclass(frozen=True)
class Card:
    """The readable half of a method or stage: what ``methods list`` shows and ``--set`` checks."""

    name: str
    summary: str
    source: str
    Config: type
    presets: Mapping[str, Mapping[str, Any]]
    tunes_generator: bool = False


#: the attributes a card gives the class that adopts it
CARD_ATTRIBUTES: Tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Card))


def adopt_card(cls: type) -> None:
    """Copy ``cls.card``'s fields onto ``cls`` (called from ``__init_subclass__`` of methods and stages)."""
    card = cls.__dict__.get("card")
    if card is not None:
        for attr in CARD_ATTRIBUTES:
            setattr(cls, attr, getattr(card, attr))


def compose_card(embedding: Any, refinement: Any, *, name: Optional[str] = None, summary: str = "",
                 source: str = "") -> Card:
    """The card of ``EMBEDDING+REFINEMENT`` from the two stages' cards (or stage classes).

    The config nests one dataclass per stage under the stage's name, so two stages may share a
    field name; a preset exists when both stages have it and applies stage by stage.
    """
    name = name or f"{embedding.name}+{refinement.name}"
    config = dataclasses.make_dataclass(
        f"{camel_case(embedding.name)}{camel_case(refinement.name)}Config",
        [(embedding.name, embedding.Config, dataclasses.field(default_factory=embedding.Config)),
         (refinement.name, refinement.Config, dataclasses.field(default_factory=refinement.Config))],
    )
    common = [p for p in embedding.presets if p in refinement.presets]
    presets = {p: {**{f"{embedding.name}.{k}": v for k, v in embedding.presets[p].items()},
                   **{f"{refinement.name}.{k}": v for k, v in refinement.presets[p].items()}} for p in common}
    return Card(
        name=name,
        summary=summary or f"{embedding.name} embedding, then {refinement.name} refinement from its latents",
        source=source or f"{embedding.name}: {embedding.source} | {refinement.name}: {refinement.source}",
        Config=config, presets=presets, tunes_generator=refinement.tunes_generator)


def camel_case(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


EMBEDDING_CARDS: Registry[Card] = Registry("embedding")
REFINEMENT_CARDS: Registry[Card] = Registry("refinement")
#: in the order the plugin loader registers the methods (the order ``methods list`` shows)
METHOD_CARDS: Registry[Card] = Registry("method")

#: the combinations registered as methods (listed by ``methods list``, run by ``--method all``):
#: GANInverter's headline pairing (e4e + PTI) and the same embedding under GaNI
CURATED: Tuple[str, ...] = ("e4e+pti", "e4e+gani")


def _embedding(card: Card) -> Card:
    """An embedding stage card; every built-in embedding is also a method of the same name."""
    EMBEDDING_CARDS.add(card.name, card)
    return card


# --- encoders (methods/encoder_embedding.py) --------------------------------------------------
_ENCODERS = [
    ("psp", "pSp encoder: one code per style slot from an FPN over IR-SE50 (W+)",
     "Richardson et al. 2021 (pixel2style2pixel); inference as eladrich/pixel2style2pixel", C.EncoderStageConfig),
    ("e4e", "e4e encoder: w0 plus per-slot deltas, trained for editability (W+)",
     "Tov et al. 2021 (encoder4editing); inference as omertov/encoder4editing", C.EncoderStageConfig),
    ("restyle_psp", "ReStyle-pSp: iterative residual encoder, iterated with the generator (W+)",
     "Alaluf et al. 2021 (ReStyle); inference as yuval-alaluf/restyle-encoder", C.IterativeEncoderStageConfig),
    ("restyle_e4e", "ReStyle-e4e: iterative w0 + deltas encoder, iterated with the generator (W+)",
     "Alaluf et al. 2021 (ReStyle); inference as yuval-alaluf/restyle-encoder", C.IterativeEncoderStageConfig),
    ("w_encoder", "HyperStyle's W-encoder: one w for every style slot",
     "Alaluf et al. 2022 (HyperStyle), its faces_w_encoder; inference as yuval-alaluf/hyperstyle",
     C.EncoderStageConfig),
]
for _name, _summary, _source, _config in _ENCODERS:
    # the authors' inference is already cheap at 64 px: fast = paper (ReStyle keeps its 5 iterations)
    METHOD_CARDS.add(_name, _embedding(Card(_name, _summary, _source, _config, C.SAME_IN_EVERY_PRESET)))

# --- PTI, GaNI (methods/pti.py, methods/gani.py) ----------------------------------------------
def _pivot_tuning(name: str, source: str, presets: Mapping[str, Mapping[str, Any]], *, refinement: Tuple[type, str],
                  method: Tuple[type, str]) -> None:
    """A tuning refinement (config, summary) and its plain method (pivot + refinement fields, summary)."""
    (refine_config, refine_summary), (method_config, method_summary) = refinement, method
    REFINEMENT_CARDS.add(name, Card(name, refine_summary, source, refine_config,
                                    C.restrict_presets(presets, refine_config), tunes_generator=True))
    METHOD_CARDS.add(name, Card(name, method_summary, source, method_config, presets, tunes_generator=True))


_pivot_tuning(
    "pti", "Roich et al. 2021 (arXiv 2106.05744); defaults from github.com/danielroich/PTI configs/hyperparameters.py",
    C.PTI_PRESETS,
    refinement=(C.PTIRefineConfig, "PTI's tuning: all synthesis weights tuned on the image at the given latents"),
    method=(C.PTIConfig, "Pivotal Tuning: W pivot, then tune all synthesis weights on the image"))
_pivot_tuning(
    "gani", "Sheffi, Rotman, Wolf 2023 (GaNI, arXiv abstract only); architecture and defaults are "
    "gani-bench's reading (docs/methods.md, GaNI)",
    C.GANI_PRESETS,
    refinement=(C.GaNIRefineConfig, "GaNI's Gradient Modification Modules, trained one-shot on the image at the given latents"),
    method=(C.GaNIConfig, "GaNI: W pivot, then one-shot trained Gradient Modification Modules update the weights"))

# --- HyperStyle (methods/hyperstyle_refinement.py) --------------------------------------------
REFINEMENT_CARDS.add("hyperstyle", Card(
    "hyperstyle", "HyperStyle: a hypernetwork predicts per-image weight offsets, 5 iterations, latents fixed",
    "Alaluf et al. 2022 (HyperStyle); inference as yuval-alaluf/hyperstyle inference.py",
    # the authors' 5 iterations are cheap at 64 px: every preset keeps them
    C.HyperStyleStageConfig, C.SAME_IN_EVERY_PRESET, tunes_generator=True))
METHOD_CARDS.add("hyperstyle", compose_card(
    EMBEDDING_CARDS.get("w_encoder"), REFINEMENT_CARDS.get("hyperstyle"), name="hyperstyle",
    summary="HyperStyle: W-encoder latents, then 5 hypernetwork iterations of per-image weight offsets",
    source="Alaluf et al. 2022 (HyperStyle, CVPR); W-encoder + hypernetwork as yuval-alaluf/hyperstyle"))

# --- SG2 W / W+ projection (methods/projection_embedding.py; methods in baselines/sg2.py) -----
_SG2_SOURCE = ("Karras et al. 2020 (StyleGAN2, sec. 5 projection); schedule and defaults from NVIDIA "
               "stylegan2-ada-pytorch projector.py")
METHOD_CARDS.add("sg2_w", _embedding(Card(
    "sg2_w", "StyleGAN2 projector: optimise one w (and the noise maps), 600 steps", _SG2_SOURCE,
    C.SG2Config, C.SG2_W_PRESETS)))
METHOD_CARDS.add("sg2_wplus", _embedding(Card(
    "sg2_wplus", "StyleGAN2 projector in W+: optimise num_ws style vectors (and the noise maps), 2000 steps",
    _SG2_SOURCE, C.SG2WPlusConfig, C.SG2_WPLUS_PRESETS)))

for _name in CURATED:
    _emb, _, _ref = _name.partition("+")
    METHOD_CARDS.add(_name, compose_card(EMBEDDING_CARDS.get(_emb), REFINEMENT_CARDS.get(_ref), name=_name))

#: every module of the plugin packages that may register a method or stage, as of this catalogue;
#: a module not listed here (a new file in ``baselines/``) makes readers load the real registries
KNOWN_PLUGIN_MODULES: Dict[str, FrozenSet[str]] = {
    "gani_bench.methods": frozenset({
        "base", "catalog", "compose", "configs", "encoder_embedding", "gani", "gani_gmm", "hyperstyle_refinement",
        "losses", "projection", "projection_embedding", "pti", "stages", "tuning"}),
    "gani_bench.baselines": frozenset({"sg2"}),
}
ENTRY_POINT_GROUP = "gani_bench.plugins"


def cards_describe_installed_plugins() -> bool:
    """True when the cards above are every method and stage the plugin loader would register.

    False when a package declares a ``gani_bench.plugins`` entry point, ``$GANI_BENCH_PLUGINS``
    names modules, or a plugin package holds a module this catalogue does not list; then only
    loading the plugins tells.
    """
    import importlib
    import pkgutil
    from importlib import metadata

    from ..plugins import extra_plugin_modules

    if extra_plugin_modules() or any(True for _ in metadata.entry_points(group=ENTRY_POINT_GROUP)):
        return False
    for package_name, known in KNOWN_PLUGIN_MODULES.items():
        package = importlib.import_module(package_name)
        found = {info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")}
        if not found <= known:
            return False
    return True


__all__ = ["Card", "adopt_card", "compose_card", "EMBEDDING_CARDS", "REFINEMENT_CARDS", "METHOD_CARDS", "CURATED",
           "KNOWN_PLUGIN_MODULES", "cards_describe_installed_plugins", "camel_case"]
