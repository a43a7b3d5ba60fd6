"""Per-image time of each inversion method (fast preset, CPU, embedded 64 px generator) and the
overhead of each tuning method over the bare generator work it has to do.

Run: ``OMP_NUM_THREADS=2 pytest tests/benchmarks/test_bench_methods.py --benchmark-only``
(skipped in the normal run). With the LPIPS weights in the cache (``GANI_BENCH_HOME`` pointing
at it) the ``fast`` preset runs; otherwise ``fast_mse`` (same steps, MSE only) and the preset
used is recorded in ``extra_info``.

Overhead: a tuning method's ``tune`` seconds divided by (optimiser steps x one reference step),
where the reference step is what any tuner must do per step: a forward of the generator with
deltas on the same parameters, the same loss (incl. the locality regulariser when it is on) and
the backward to those deltas. Target: <= 1.15. Both are measured in the same run and process.
"""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from gani_bench.methods.base import METHODS
from gani_bench.methods.gani import select_layers
from gani_bench.methods.losses import get_perceptual, locality_latents, locality_loss, reconstruction_loss
from gani_bench.methods.tuning import locality_rng
from gani_bench.plugins import load_plugins
from gani_bench.stylegan2.embedded import build_embedded_generator
from gani_bench.stylegan2.functional import synthesize, tunable_parameter_names, zero_deltas
from gani_bench.weights import missing_weights_reason

skimage_data = pytest.importorskip("skimage.data")
N_IMAGES = 2


def _preset() -> str:
    have = all(missing_weights_reason(w) is None for w in ("lpips-alexnet", "lpips-vgg16"))
    return "fast" if have else "fast_mse"


def _targets() -> torch.Tensor:
    img = torch.from_numpy(skimage_data.astronaut()).permute(2, 0, 1)[None].float() / 127.5 - 1
    img = F.interpolate(img, size=(64, 64), mode="area")
    return torch.cat([img, img.flip(-1)])[:N_IMAGES]


def _reference_step_seconds(G, method, pivot, target, repeats: int = 5) -> float:
    """One plain step: synthesize with deltas on the tuned parameters + the loss + backward."""
    c = method.config
    names = (
        tunable_parameter_names(G, c.layers)
        if method.name == "pti"
        else select_layers(G, c.layers, c.with_bias)
    )
    deltas = zero_deltas(G, names, requires_grad=True)
    perceptual = get_perceptual(c.perceptual, target.device)
    locality_on = (c.locality if method.name == "pti" else c.locality_weight > 0)
    settings = c.tune_settings(c.tune_lr, 1.0 if locality_on else 0.0)
    rng = locality_rng(0, target.device)

    def step() -> None:
        img = synthesize(G, pivot, deltas)
        loss = reconstruction_loss(img, target, perceptual, mse_weight=c.mse_weight, perceptual_weight=c.lpips_weight).total.sum()
        if locality_on:
            w_p = locality_latents(G, pivot, rng, settings.locality)
            with torch.no_grad():
                original = synthesize(G, w_p, None, noise_mode="none")
            loss = loss + locality_loss(synthesize(G, w_p, deltas, noise_mode="none"), original, perceptual, settings.locality)
        torch.autograd.grad(loss, list(deltas.values()))

    step()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - t0) / repeats


def _pivot_like(G) -> torch.Tensor:
    with torch.no_grad():
        return G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), None)


@pytest.mark.benchmark(group="methods-per-image")
@pytest.mark.parametrize("name", ["sg2_w", "sg2_wplus", "pti", "gani"])
def test_bench_method_per_image(benchmark, name):
    load_plugins()
    G = build_embedded_generator(seed=0)
    targets = _targets()
    preset = _preset()
    cls = METHODS.get(name)
    method = cls(cls.make_config(preset))
    # the reference step is timed right before and right after the method (same load), averaged
    ref_before = _reference_step_seconds(G, method, _pivot_like(G), targets[:1]) if cls.tunes_generator else 0.0
    result = benchmark.pedantic(lambda: method.invert(G, targets, seed=0), rounds=1, iterations=1)
    benchmark.extra_info["preset"] = preset
    benchmark.extra_info["images"] = N_IMAGES
    benchmark.extra_info["seconds_per_image"] = result.total_seconds
    benchmark.extra_info["stage_seconds_per_image"] = result.stage_seconds
    if cls.tunes_generator:
        steps = sum(s["tune"] for s in result.steps) / N_IMAGES
        ref = 0.5 * (ref_before + _reference_step_seconds(G, method, result.latents[:1], targets[:1]))
        overhead = result.stage_seconds["tune"] / (steps * ref)
        benchmark.extra_info["reference_step_seconds"] = ref
        benchmark.extra_info["tune_overhead_ratio"] = overhead
        print(f"\n{name}: {result.total_seconds:.2f} s/image, tune overhead {overhead:.2f}x (target <= 1.15)")
    else:
        print(f"\n{name}: {result.total_seconds:.2f} s/image")
