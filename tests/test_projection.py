"""The shared W / W+ projection: NVIDIA's schedule, per-image independence, recovery."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gani_bench.errors import ConfigError
from gani_bench.methods.projection import (
    ProjectionSettings,
    latent_noise_scale,
    learning_rate,
    noise_regularisation,
    project,
    w_statistics,
)
from gani_bench.stylegan2.embedded import build_embedded_generator
from gani_bench.stylegan2.functional import synthesize

MSE_ONLY = dict(perceptual="none", mse_weight=1.0, w_avg_samples=2000)


@pytest.fixture(scope="module")
def G():
    return build_embedded_generator(seed=0)


def _render(G, seeds):
    z = torch.stack([torch.randn(G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
    with torch.no_grad():
        return synthesize(G, G.mapping(z, None))


def test_learning_rate_schedule_matches_nvidia_formula():
    s = ProjectionSettings(steps=100, lr=0.1)
    assert learning_rate(0, s) == 0.0  # warm-up starts at zero
    assert learning_rate(2, s) == pytest.approx(0.1 * 0.02 / 0.05)  # linear warm-up
    assert learning_rate(50, s) == pytest.approx(0.1)  # plateau
    expected_end = 0.1 * (0.5 - 0.5 * math.cos((0.01 / 0.25) * math.pi))
    assert learning_rate(99, s) == pytest.approx(expected_end)


def test_latent_noise_ramp():
    s = ProjectionSettings(steps=100)
    assert latent_noise_scale(0, s, w_std=2.0) == pytest.approx(2.0 * 0.05)
    assert latent_noise_scale(50, s, w_std=2.0) == pytest.approx(2.0 * 0.05 * (1 - 0.5 / 0.75) ** 2)
    assert latent_noise_scale(75, s, w_std=2.0) == 0.0
    assert latent_noise_scale(90, s, w_std=2.0) == 0.0


def test_noise_regularisation_known_maps():
    ones = torch.ones(1, 1, 16, 16)
    # constant map: autocorrelation 1 on both axes at both scales (16, 8) -> 4 terms of 1
    assert noise_regularisation({"a": ones}).item() == pytest.approx(4.0)
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 2.0 - 1.0
    checker = checker.reshape(1, 1, 16, 16)
    # checkerboard: -1 correlation at 16 px (2 terms), pools to all zeros at 8 px
    assert noise_regularisation({"a": checker}).item() == pytest.approx(2.0)
    both = noise_regularisation({"a": torch.cat([ones, checker])})
    assert both.tolist() == pytest.approx([4.0, 2.0])  # per image, not mixed


def test_w_statistics_follow_nvidia_not_the_buffer(G):
    w_avg, w_std = w_statistics(G, 500, torch.device("cpu"))
    z = torch.from_numpy(np.random.RandomState(123).randn(500, G.z_dim)).float()
    with torch.no_grad():
        w = G.mapping(z, None)[:, :1]
    torch.testing.assert_close(w_avg, w.mean(0, keepdim=True))
    assert w_std == pytest.approx(float(((w - w.mean(0)) ** 2).sum(-1).mean().sqrt()), rel=1e-5)
    assert not torch.allclose(w_avg.reshape(-1), G.mapping.w_avg)  # 500 samples != the 10k buffer


def test_projection_recovers_rendered_images(G):
    targets = _render(G, [11, 12])
    # reference: mean MSE between distinct random samples of this generator
    others = _render(G, [21, 22, 23, 24])
    reference = float(((others[:, None] - others[None]) ** 2).mean(dim=(2, 3, 4)).sum() / 12)
    before = G.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    out = project(G, targets, space="w", settings=ProjectionSettings(steps=50, **MSE_ONLY), seed=0)
    with torch.no_grad():
        rec = synthesize(G, out.latents, noise=out.noise)
    mse = ((rec - targets) ** 2).flatten(1).mean(1)
    # a W projection reaching within 10% of the sample-to-sample distance found the image's region
    assert (mse < 0.1 * reference).all(), (mse.tolist(), reference)
    assert all(c[-1] < c[0] for c in out.loss_curves)
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in G.parameters())


@pytest.mark.parametrize("space", ["w", "w+"])
def test_batch_equals_one_at_a_time(G, space):
    targets = _render(G, [3, 4])
    s = ProjectionSettings(steps=8, **MSE_ONLY)
    batch = project(G, targets, space=space, settings=s, seeds=[5, 9])
    one = project(G, targets[:1], space=space, settings=s, seeds=[5])
    two = project(G, targets[1:], space=space, settings=s, seeds=[9])
    # The generator itself renders a batch and a single image ~1e-6 apart (float rounding of
    # the grouped modulated convs); Adam carries that to ~1e-4 relative after a few steps.
    # Any coupling of images (a shared random draw, a batch-wide mean) moves w by O(w_std ~ 8).
    torch.testing.assert_close(batch.latents, torch.cat([one.latents, two.latents]), atol=5e-3, rtol=1e-3)
    for name, maps in batch.noise.items():
        torch.testing.assert_close(maps, torch.cat([one.noise[name], two.noise[name]]), atol=5e-3, rtol=1e-3)
    swapped = project(G, targets[:1], space=space, settings=s, seeds=[9])
    assert (swapped.latents - one.latents).abs().max() > 0.05  # the seed, not the position, decides
    assert batch.latents.shape == (2, G.num_ws, G.w_dim)
    if space == "w":  # one w repeated over all style inputs
        assert torch.equal(batch.latents, batch.latents[:, :1].expand_as(batch.latents))


def test_same_seed_same_result_and_seed_matters(G):
    targets = _render(G, [7])
    s = ProjectionSettings(steps=5, **MSE_ONLY)
    a = project(G, targets, settings=s, seed=1)
    b = project(G, targets, settings=s, seed=1)
    c = project(G, targets, settings=s, seed=2)
    assert torch.equal(a.latents, b.latents)
    assert not torch.equal(a.latents, c.latents)


def test_bad_space_and_steps_are_one_line_errors(G):
    targets = _render(G, [1])
    with pytest.raises(ConfigError, match="space must be 'w' or 'w\\+'"):
        project(G, targets, space="z", settings=ProjectionSettings(steps=1, **MSE_ONLY))
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        project(G, targets, settings=ProjectionSettings(steps=0, **MSE_ONLY))
    with pytest.raises(ConfigError, match="resize the images to 64 px first"):
        project(G, torch.zeros(1, 3, 32, 32), settings=ProjectionSettings(steps=1, **MSE_ONLY))
