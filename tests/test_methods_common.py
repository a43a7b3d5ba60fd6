"""Every registered inversion method: presets, result record, determinism, G untouched, CLI."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from click.testing import CliRunner

from gani_bench.cli.methods import method_descriptions, methods
from gani_bench.errors import ConfigError
from gani_bench.methods.base import METHODS
from gani_bench.plugins import load_plugins
from gani_bench.stylegan2.embedded import build_embedded_generator
from gani_bench.stylegan2.functional import synthesize

OURS = ("sg2_w", "sg2_wplus", "pti", "gani")
#: MSE-only (no LPIPS weights needed) and a handful of steps per stage
TINY = {
    "sg2_w": {"steps": 4, "w_avg_samples": 500},
    "sg2_wplus": {"steps": 4, "w_avg_samples": 500},
    "pti": {"pivot_steps": 3, "tune_steps": 3},
    "gani": {"pivot_steps": 3, "tune_steps": 3, "hidden": 4},
}


@pytest.fixture(scope="module")
def G():
    load_plugins()
    return build_embedded_generator(seed=1)


@pytest.fixture(scope="module")
def targets(G):
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return synthesize(G, G.mapping(z, None)).clamp(-1, 1)


def test_all_methods_registered_with_paper_and_fast_presets():
    load_plugins()
    for name in OURS:
        cls = METHODS.get(name)
        assert cls.name == name and cls.summary and cls.source
        assert {"paper", "fast", "mse", "fast_mse"} <= set(cls.presets)
        assert cls.make_config("paper") == cls.Config()  # paper preset == the dataclass defaults
        fast = cls.make_config("fast")
        steps = [getattr(fast, f) for f in ("steps", "pivot_steps", "tune_steps") if hasattr(fast, f)]
        paper = [getattr(cls.Config(), f) for f in ("steps", "pivot_steps", "tune_steps") if hasattr(fast, f)]
        assert all(s < p for s, p in zip(steps, paper))


def test_paper_defaults_are_the_sources_values():
    load_plugins()
    sg2, sg2p, pti, gani = (METHODS.get(n).Config() for n in OURS)
    assert (sg2.steps, sg2p.steps, sg2.lr, sg2.w_avg_samples, sg2.noise_reg_weight) == (600, 2000, 0.1, 10_000, 1e5)
    assert (pti.pivot_steps, pti.pivot_lr, pti.tune_steps, pti.tune_lr, pti.lpips_threshold) == (450, 0.01, 350, 3e-4, 0.06)
    assert (pti.locality, pti.locality_alpha, pti.locality_truncation) == (False, 30.0, 0.5)
    assert (pti.locality_mse_weight, pti.locality_lpips_weight, pti.perceptual) == (0.1, 0.1, "lpips_alex")
    assert (gani.pivot_steps, gani.tune_steps, gani.pivot_lr) == (pti.pivot_steps, pti.tune_steps, pti.pivot_lr)


@pytest.mark.parametrize("name", OURS)
def test_result_record_determinism_and_untouched_generator(G, targets, name):
    cls = METHODS.get(name)
    method = cls(cls.make_config("mse", TINY[name]))
    before = {k: v.clone() for k, v in G.state_dict().items()}
    a = method.invert(G, targets, seed=5)
    b = method.invert(G, targets, seed=5)
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in G.parameters())
    assert torch.equal(a.reconstruction, b.reconstruction)
    assert torch.equal(a.latents, b.latents)
    assert a.latents.shape == (2, G.num_ws, G.w_dim)
    assert a.latent_space == ("w+" if name == "sg2_wplus" else "w")
    assert a.reconstruction.shape == targets.shape
    assert (a.weight_deltas is not None) == cls.tunes_generator
    assert len(a.loss_curves) == 2 and len(a.steps) == 2
    assert all(len(curve) == sum(steps.values()) for curve, steps in zip(a.loss_curves, a.steps))
    assert a.total_seconds > 0
    # the reconstruction is what the latents (+ deltas, + noise) render: nothing hidden
    for i in range(2):
        deltas = a.weight_deltas[i] if a.weight_deltas else None
        noise = {k: v[i : i + 1] for k, v in a.noise.items()} if a.noise else None
        with torch.no_grad():
            again = synthesize(G, a.latents[i : i + 1], deltas, noise=noise)
        torch.testing.assert_close(again, a.reconstruction[i : i + 1], atol=1e-5, rtol=1e-5)


def test_bad_override_is_a_one_line_config_error():
    load_plugins()
    with pytest.raises(ConfigError, match="has no config field 'stepz'"):
        METHODS.get("pti").make_config("fast", {"stepz": "3"})
    with pytest.raises(ConfigError, match="no preset 'turbo'"):
        METHODS.get("gani").make_config("turbo")
    config = METHODS.get("gani").make_config("fast", {"features": "grad,theta", "locality_weight": "0"})
    assert config.features == ("grad", "theta") and config.locality_weight == 0.0


def test_methods_list_cli_shows_fields_defaults_and_presets():
    result = CliRunner().invoke(methods, ["list"])
    assert result.exit_code == 0, result.output
    for record in method_descriptions():
        assert f"{record['name']}: {record['summary']}" in result.output
        assert f"source: {record['source']}" in result.output
    assert "    tune_lr                 0.0003" in result.output  # PTI's default lr
    assert "fast: steps=50" in result.output
    brief = CliRunner().invoke(methods, ["list", "--brief"])
    assert brief.exit_code == 0 and "source:" not in brief.output
    assert all(f"{n}:" in brief.output for n in OURS)
    fields = {f.name for f in dataclasses.fields(METHODS.get("gani").Config)}
    assert all(f"    {f}" in result.output for f in fields)
