"""Training images: renders of seeded z through the generator, or a dataset loaded once.

``--synthetic N`` is the only sensible data for a generator without its training set (and the
embedded 64 px one): image i is ``G(z_i)`` with z_i drawn from a generator seeded by
``(seed, i)``, rendered with constant noise, so the set is the same on every run and resume.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..model import resize_to


def synthetic_latents(G: torch.nn.Module, indices: torch.Tensor, seed: int) -> torch.Tensor:
    """W+ latents [len(indices), num_ws, w_dim] of the synthetic images with these indices."""
    zs = []
    for i in indices.tolist():
        g = torch.Generator().manual_seed(seed * 1_000_003 + int(i))
        zs.append(torch.randn(G.z_dim, generator=g))
    z = torch.stack(zs).to(next(G.parameters()).device)
    return G.mapping(z, None)


class ImageSource:
    """``batch(indices) -> [B, 3, S, S]`` targets at the encoder input size."""

    def __init__(self, size: int, *, G: Optional[torch.nn.Module] = None, synthetic: int = 0, seed: int = 0,
                 images: Optional[torch.Tensor] = None) -> None:
        self.size, self.G, self.seed = size, G, seed
        self.images = None if images is None else resize_to(images, size)
        self.count = int(synthetic) if images is None else int(images.shape[0])
        self.synthetic = images is None

    def __len__(self) -> int:
        return self.count

    @torch.no_grad()
    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        if not self.synthetic:
            return self.images[indices]
        assert self.G is not None
        ws = synthetic_latents(self.G, indices, self.seed)
        return resize_to(self.G.synthesis(ws, noise_mode="const").clamp(-1, 1), self.size)


def load_dataset_images(spec: str, resolution: int, G_name: str, device: torch.device) -> torch.Tensor:
    """Every loadable image of a gani-bench dataset (name, manifest or folder) as one tensor."""
    from ...errors import DatasetError
    from ...generators import GENERATORS
    from ...harness.datasets import iter_samples, open_dataset

    ds = open_dataset(spec)
    skipped = []
    samples = list(iter_samples(ds, ds.entries, resolution, on_skip=lambda e, why: skipped.append(why),
                                generator_provider=lambda n: GENERATORS.get(n).load(device)[0],
                                run_generator_name=G_name, device=device))
    if not samples:
        reason = f"{len(skipped)} skipped, the first: {skipped[0]}" if skipped else "it holds none"
        raise DatasetError(f"--dataset {spec}: no usable image ({reason}); give another --dataset")
    return torch.stack([s.target for s in samples])
