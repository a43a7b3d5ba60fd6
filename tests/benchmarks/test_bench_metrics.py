"""Throughput of each image metric on the CPU at batch 1 and 16 (images per second).

Run: ``pytest tests/benchmarks/test_bench_metrics.py --benchmark-only`` (skipped in the normal
run). Metrics whose weights cannot be had here are skipped with the reason. Inputs are 256 px
(the evaluation resolution) face photos, so the ID metrics exercise detection and alignment.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gani_bench.errors import WeightsUnavailable
from gani_bench.metrics.base import METRICS
from gani_bench.plugins import load_plugins

METRIC_NAMES = ["mse", "psnr", "ms_ssim", "lpips", "lpips_vgg", "id_similarity", "id_similarity_arcface",
                "id_similarity_facenet", "id_similarity_dlib"]


def _faces(n: int) -> torch.Tensor:
    skimage_data = pytest.importorskip("skimage.data")
    x = torch.from_numpy(np.array(skimage_data.astronaut())).permute(2, 0, 1)[None].float() / 127.5 - 1
    x = F.interpolate(x, size=(256, 256), mode="bilinear", antialias=True, align_corners=False)
    return x.expand(n, -1, -1, -1).contiguous()


@pytest.mark.benchmark(group="metrics-cpu")
@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_metric_throughput(benchmark, name: str, batch: int) -> None:
    load_plugins()
    torch.set_num_threads(1)
    metric = METRICS.get(name)("cpu")
    target = _faces(batch)
    g = torch.Generator().manual_seed(0)
    pred = (target + 0.05 * torch.randn(target.shape, generator=g)).clamp(-1, 1)
    try:
        values = metric.compute(pred, target)  # warm-up: builds/fetches networks once
    except WeightsUnavailable as exc:
        pytest.skip(f"{name}: {exc}")
    assert values.shape == (batch,)
    benchmark.pedantic(metric.compute, args=(pred, target), rounds=3, iterations=1)
    per_second = batch / benchmark.stats.stats.mean
    benchmark.extra_info["images_per_second"] = round(per_second, 2)
    print(f"\n{name} batch {batch}: {per_second:.1f} images/s")
