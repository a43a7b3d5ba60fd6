"""Named edits per generator domain, and seeded *synthetic* edits for every other generator.

``edits_for_generator(info_or_domain, w_dim, num_ws)`` is what the harness calls: for a domain
with published directions (``ffhq``, ``cars``) it loads them through the weight registry and
checks they fit the generator; for anything else (the embedded 64 px generator, a user's
StyleGAN2-ADA model) it builds clearly labelled ``synthetic_*`` edits, seeded, so the
edit-fidelity pipeline runs end to end. Synthetic edits have no semantics: they measure how a
method behaves under latent moves of a realistic size, never "age" or "smile".
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import torch

from ..errors import CheckpointError, UnknownNameError
from ..registry import Registry
from .directions import (
    Edit,
    GANSpaceEdit,
    GANSpacePCA,
    InterFaceGANEdit,
    check_w_dim,
    load_ganspace_pca,
    load_interfacegan_direction,
)


# --------------------------------------------------------------------------------------------
# Specs: what a named edit is, before its file is loaded


@dataclass(frozen=True)
class InterFaceGANSpec:
    """``w + strength * direction`` with the direction file named ``weights`` in the weight registry."""

    weights: str
    strength: float

    def build(self, name: str, w_dim: int, num_ws: int) -> Edit:
        path = _fetch_path(self.weights)
        direction = _cached_direction(path)
        check_w_dim(path, int(direction.shape[-1]), w_dim)
        if direction.ndim == 2 and direction.shape[0] != num_ws:
            raise_layer_mismatch(path, int(direction.shape[0]), num_ws)
        return InterFaceGANEdit(direction, self.strength, name=name, source=path)


@dataclass(frozen=True)
class GANSpaceSpec:
    """GANSpace ``(component, first_layer, last_layer, strength)`` on the PCA file ``weights``."""

    weights: str
    component: int
    first_layer: int
    last_layer: int
    strength: float

    def build(self, name: str, w_dim: int, num_ws: int) -> Edit:
        path = _fetch_path(self.weights)
        pca = _cached_pca(path)
        check_w_dim(path, pca.w_dim, w_dim)
        if self.last_layer > num_ws:
            raise_layer_mismatch(f"{path} (edit {name}: layers [{self.first_layer}, {self.last_layer}))", self.last_layer, num_ws)
        return GANSpaceEdit(pca, self.component, self.first_layer, self.last_layer, self.strength, name=name)


EditSpec = Union[InterFaceGANSpec, GANSpaceSpec]


def raise_layer_mismatch(source: str, layers_needed: int, num_ws: int) -> None:
    """One-line refusal of an edit whose layers do not exist in this generator."""
    raise CheckpointError(
        f"edit direction {source} needs {layers_needed} style layers but the generator has num_ws {num_ws}; "
        "leave this edit out (names=...) for this generator's resolution"
    )


def _fetch_path(weights_name: str) -> str:
    from ..weights import fetch  # imported late: the weights package pulls in download machinery

    return str(fetch(weights_name).path)


@lru_cache(maxsize=32)
def _cached_direction(path: str) -> torch.Tensor:
    return load_interfacegan_direction(path)


@lru_cache(maxsize=8)
def _cached_pca(path: str) -> GANSpacePCA:
    return load_ganspace_pca(path)


# --------------------------------------------------------------------------------------------
# The published edits, per domain

#: domain -> {edit name: spec}. Edit names become metric column suffixes (``edit_id/age+3``).
EDIT_DOMAINS: Registry[Dict[str, EditSpec]] = Registry("edit domain")

# InterFaceGAN strengths +/-3: e4e's LEC script uses age +/-3; applying the same magnitude to
# smile and pose is our choice (PTI's qualitative comparison sweeps factors within +/-3 too).
# GANSpace tuples: PTI's scripts/latent_editor_wrapper.py and e4e's notebook (faces).
EDIT_DOMAINS.add("ffhq", {
    "age+3": InterFaceGANSpec("interfacegan-age", 3.0),
    "age-3": InterFaceGANSpec("interfacegan-age", -3.0),
    "smile+3": InterFaceGANSpec("interfacegan-smile", 3.0),
    "smile-3": InterFaceGANSpec("interfacegan-smile", -3.0),
    "pose+3": InterFaceGANSpec("interfacegan-pose", 3.0),
    "pose-3": InterFaceGANSpec("interfacegan-pose", -3.0),
    "ganspace_smile": GANSpaceSpec("ganspace-ffhq-pca", 46, 4, 5, -6.0),
    "ganspace_eye_openness": GANSpaceSpec("ganspace-ffhq-pca", 54, 7, 8, 5.0),
    "ganspace_trimmed_beard": GANSpaceSpec("ganspace-ffhq-pca", 58, 7, 9, 7.0),
})

# ``gani_bench.generators`` labels the FFHQ networks with the domain "faces": same edits.
EDIT_DOMAINS.add("faces", EDIT_DOMAINS.get("ffhq"))

# e4e's cars notebook (Stanford Cars StyleGAN2, 512 px, num_ws 16).
EDIT_DOMAINS.add("cars", {
    "ganspace_viewpoint_1": GANSpaceSpec("ganspace-cars-pca", 0, 0, 5, 2.0),
    "ganspace_viewpoint_2": GANSpaceSpec("ganspace-cars-pca", 0, 0, 5, -2.0),
    "ganspace_cube": GANSpaceSpec("ganspace-cars-pca", 16, 3, 6, 25.0),
    "ganspace_color": GANSpaceSpec("ganspace-cars-pca", 22, 9, 11, -8.0),
    "ganspace_grass": GANSpaceSpec("ganspace-cars-pca", 41, 9, 11, -18.0),
})


# --------------------------------------------------------------------------------------------
# Synthetic edits (any generator)

#: number of mapped latents behind the synthetic PCA (GANSpace used 10^6 on real models; 2,000
#: gives stable top components for the small generators this path exists for)
SYNTHETIC_PCA_SAMPLES = 2000
SYNTHETIC_NUM_COMPONENTS = 8


def synthetic_pca(w_dim: int, generator: Optional[Any] = None, seed: int = 0,
                  num_samples: int = SYNTHETIC_PCA_SAMPLES) -> GANSpacePCA:
    """A GANSpace-style PCA for a generator without published directions.

    With a generator: PCA of ``mapping(z)`` over ``num_samples`` seeded z (as GANSpace does on
    W). Without one: zero mean, seeded random orthonormal components, unit std.
    """
    g = torch.Generator().manual_seed(seed)
    k = min(SYNTHETIC_NUM_COMPONENTS, w_dim)
    if generator is None:
        q, _ = torch.linalg.qr(torch.randn(w_dim, k, generator=g))
        return GANSpacePCA(mean=torch.zeros(w_dim), comp=q.T.contiguous(), std=torch.ones(k), source="synthetic random PCA")
    check_w_dim("synthetic PCA", w_dim, int(generator.w_dim))
    device = next(generator.parameters()).device
    z = torch.randn(num_samples, generator.z_dim, generator=g).to(device)
    c = None if generator.c_dim == 0 else torch.zeros(num_samples, generator.c_dim, device=device)  # conditional G: all-zero label (our choice)
    with torch.no_grad():
        w = generator.mapping(z, c)[:, 0, :].double().cpu()
    mean = w.mean(0)
    _, s, vh = torch.linalg.svd(w - mean, full_matrices=False)
    std = s[:k] / (num_samples - 1) ** 0.5
    return GANSpacePCA(mean=mean.float(), comp=vh[:k].float().contiguous(), std=std.float(), source="synthetic PCA of mapping(z)")


def synthetic_edits(w_dim: int, num_ws: int, generator: Optional[Any] = None, seed: int = 0) -> Dict[str, Edit]:
    """Seeded stand-in edits: two random unit InterFaceGAN-style directions and two PCA edits.

    Strength 3 matches the published InterFaceGAN edits (unit directions, strength 3); the
    GANSpace-style edits set a coarse and a fine layer range to +/-2 stds of the top two
    components (published GANSpace strengths are 2-7 stds).
    """
    g = torch.Generator().manual_seed(seed + 1)
    dirs = torch.randn(2, w_dim, generator=g)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)
    pca = synthetic_pca(w_dim, generator, seed)
    half = max(1, num_ws // 2)
    edits: Dict[str, Edit] = {
        "synthetic_direction_a+3": InterFaceGANEdit(dirs[0], 3.0, name="synthetic_direction_a+3", source="synthetic direction a"),
        "synthetic_direction_b-3": InterFaceGANEdit(dirs[1], -3.0, name="synthetic_direction_b-3", source="synthetic direction b"),
        "synthetic_ganspace_c0": GANSpaceEdit(pca, 0, 0, half, 2.0, name="synthetic_ganspace_c0"),
    }
    if num_ws > half and pca.num_components > 1:
        edits["synthetic_ganspace_c1"] = GANSpaceEdit(pca, 1, half, num_ws, -2.0, name="synthetic_ganspace_c1")
    return edits


# --------------------------------------------------------------------------------------------
# Entry point


def _domain_of(info_or_domain: Any) -> Optional[str]:
    if info_or_domain is None or isinstance(info_or_domain, str):
        return info_or_domain
    domain = getattr(info_or_domain, "domain", None)
    return domain if isinstance(domain, str) else None


def _select(edits: Dict[str, Any], names: Optional[Iterable[str]], domain: str) -> Dict[str, Any]:
    if names is None:
        return edits
    wanted = list(names)
    missing = [n for n in wanted if n not in edits]
    if missing:
        raise UnknownNameError(f"unknown edit {missing[0]!r} for domain {domain}; valid edits: {', '.join(edits)}")
    return {n: edits[n] for n in wanted}


def edit_names(info_or_domain: Any) -> Tuple[str, ...]:
    """Names of the published edits of a domain (empty for domains that get synthetic edits)."""
    domain = _domain_of(info_or_domain)
    return tuple(EDIT_DOMAINS.get(domain)) if domain in EDIT_DOMAINS else ()


def edits_for_generator(info_or_domain: Any, w_dim: int, num_ws: int, names: Optional[Sequence[str]] = None,
                        generator: Optional[Any] = None, seed: int = 0) -> Dict[str, Edit]:
    """``{name: Edit}`` for a generator.

    ``info_or_domain`` is a domain name or anything with a ``.domain`` attribute (the loader's
    ``GeneratorInfo``). A domain with published edits loads them (through
    ``gani_bench.weights.fetch``; raises ``WeightsUnavailable`` offline) and refuses files whose
    w_dim or layer count does not fit. Any other domain gets :func:`synthetic_edits` (PCA of the
    given ``generator``'s mapping when one is passed, random otherwise).
    """
    domain = _domain_of(info_or_domain)
    if domain in EDIT_DOMAINS:
        specs = _select(EDIT_DOMAINS.get(domain), names, domain)
        return {name: spec.build(name, w_dim, num_ws) for name, spec in specs.items()}
    edits = synthetic_edits(w_dim, num_ws, generator=generator, seed=seed)
    return _select(edits, names, f"{domain or 'unknown'} (synthetic edits)")
