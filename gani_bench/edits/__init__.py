"""Latent edits: InterFaceGAN / GANSpace direction loaders, Edit objects, named edits per domain.

Edit-fidelity metrics (``gani_bench.metrics.edit_fidelity``, ``gani_bench.metrics.lec``) take
their edits from :func:`edits_for_generator`.
"""
from .directions import (
    Edit,
    GANSpaceEdit,
    GANSpacePCA,
    InterFaceGANEdit,
    check_w_dim,
    load_ganspace_pca,
    load_interfacegan_direction,
)
from .registry import (
    EDIT_DOMAINS,
    GANSpaceSpec,
    InterFaceGANSpec,
    edit_names,
    edits_for_generator,
    synthetic_edits,
    synthetic_pca,
)

__all__ = [
    "Edit", "GANSpaceEdit", "GANSpacePCA", "InterFaceGANEdit", "check_w_dim", "load_ganspace_pca",
    "load_interfacegan_direction", "EDIT_DOMAINS", "GANSpaceSpec", "InterFaceGANSpec", "edit_names",
    "edits_for_generator", "synthetic_edits", "synthetic_pca",
]
