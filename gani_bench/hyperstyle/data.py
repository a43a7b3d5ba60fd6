"""Training images for the hypernetwork: renders of the generator, or a dataset's images.

``--synthetic N`` is the sensible data for a generator without its training set (and the only
data the embedded generator has): N images rendered from seeded z (``torch.Generator`` on the
CPU, so every machine draws the same z), constant noise, no truncation. Batches follow a
seeded permutation per epoch, so a resumed run sees exactly the batches it would have seen.
"""
from __future__ import annotations

from typing import List, Union

import torch
from torch import nn

from ..errors import DatasetError

Device = Union[str, torch.device]


class TrainImages:
    """``batch(step, size) -> [size, 3, R, R]`` in [-1, 1], deterministic in (seed, step)."""

    def __init__(self, count: int, seed: int) -> None:
        if count < 1:
            raise DatasetError("the training set is empty; give --synthetic N with N >= 1 or a dataset with images")
        self.count, self.seed = count, seed

    def indices(self, step: int, size: int) -> List[int]:
        per_epoch = max(1, self.count // size)
        epoch, k = divmod(step, per_epoch)
        perm = torch.randperm(self.count, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        return [int(i) for i in perm[k * size:(k + 1) * size]] if self.count >= size else [int(perm[i % self.count]) for i in range(size)]

    def images(self, idx: List[int]) -> torch.Tensor:
        raise NotImplementedError

    def batch(self, step: int, size: int) -> torch.Tensor:
        return self.images(self.indices(step, size))


class SyntheticImages(TrainImages):
    """``count`` renders of ``G`` from z drawn with ``seed``."""

    def __init__(self, G: nn.Module, count: int, seed: int, device: Device = "cpu") -> None:
        super().__init__(count, seed)
        self.G, self.device = G, device
        self.z = torch.randn(count, G.z_dim, generator=torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def images(self, idx: List[int]) -> torch.Tensor:
        z = self.z[idx].to(self.device)
        return self.G.synthesis(self.G.mapping(z, None), noise_mode="const").clamp(-1, 1)


class DatasetImages(TrainImages):
    """The images of a dataset name, manifest or folder, loaded once at the generator's size
    (the encoders' loader: the same skipping of bad images and the same one-line error)."""

    def __init__(self, spec: str, resolution: int, seed: int, *, generator_name: str = "", device: Device = "cpu") -> None:
        from ..encoders.training.data import load_dataset_images

        self.data = load_dataset_images(spec, resolution, generator_name, torch.device(device))
        super().__init__(int(self.data.shape[0]), seed)

    def images(self, idx: List[int]) -> torch.Tensor:
        return self.data[idx]


def held_out_renders(G: nn.Module, count: int, seed: int, device: Device = "cpu") -> torch.Tensor:
    """Renders from a seed the training set does not use (for evaluation)."""
    return SyntheticImages(G, count, seed, device).images(list(range(count)))


__all__ = ["TrainImages", "SyntheticImages", "DatasetImages", "held_out_renders"]
