"""GaNI: exact identity at gain 0, gradients only to the GMMs, MSE below the pivot's on a photo."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gani_bench.errors import ConfigError, UnknownNameError
from gani_bench.methods.gani import ABLATIONS, GaNI, ablation_configs, select_layers
from gani_bench.methods.gani_gmm import ChannelMixingGMM, ElementwiseGMM, GradientModificationModules, layer_features
from gani_bench.methods.projection import project
from gani_bench.stylegan2.embedded import build_embedded_generator
from gani_bench.stylegan2.functional import synthesize

skimage_data = pytest.importorskip("skimage.data")

TINY = {"pivot_steps": 10, "tune_steps": 15, "tune_lr": 3e-2, "hidden": 4}


@pytest.fixture(scope="module")
def G():
    return build_embedded_generator(seed=0)


@pytest.fixture(scope="module")
def astronaut():
    img = torch.from_numpy(skimage_data.astronaut()).permute(2, 0, 1)[None].float() / 127.5 - 1
    return F.interpolate(img, size=(64, 64), mode="area")


def _gmms(G, target, **overrides):
    method = GaNI(GaNI.make_config("mse", {**TINY, **overrides}))
    names = select_layers(G, method.config.layers, method.config.with_bias)
    pivot = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), None).detach()
    grads = method.layer_gradients(G, pivot, target, names)
    return method, pivot, grads, method.build_gmms(G, grads)


@pytest.mark.parametrize("structure", ["elementwise", "channel_mixing"])
@pytest.mark.parametrize("update", ["additive", "multiplicative"])
def test_untrained_gmms_leave_the_generator_exactly_unchanged(G, astronaut, structure, update):
    _, pivot, _, gmms = _gmms(G, astronaut, structure=structure, update=update)
    deltas = gmms()
    assert all(torch.count_nonzero(d) == 0 for d in deltas.values())
    with torch.no_grad():
        assert torch.equal(synthesize(G, pivot, deltas), G.synthesis(pivot, noise_mode="const"))


def test_gradient_reaches_gain_first_then_every_gmm_weight(G, astronaut):
    _, pivot, _, gmms = _gmms(G, astronaut)
    opt = torch.optim.Adam(gmms.parameters(), lr=1e-2)

    names, params = zip(*gmms.named_parameters())

    def step():
        loss = ((synthesize(G, pivot, gmms()) - astronaut) ** 2).mean()
        # as the method does: gradients for the GMM parameters only (G keeps .grad None)
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        return {n: g.abs().sum().item() for n, g in zip(names, grads)}

    first = step()
    assert all(v > 0 for n, v in first.items() if n.endswith("gain"))
    assert all(v == 0 for n, v in first.items() if not n.endswith("gain"))
    opt.step()
    second = step()
    assert all(v > 0 for n, v in second.items() if n.endswith(("gain", "w1", "w2")))


def test_gmm_input_is_the_rms_normalised_layer_gradient(G, astronaut):
    _, pivot, grads, gmms = _gmms(G, astronaut, features=("grad", "sign", "theta"))
    name = next(iter(grads))
    weight = dict(G.named_parameters())[name]
    feats = layer_features(grads[name], weight, ("grad", "sign", "theta"))
    g = grads[name]
    torch.testing.assert_close(feats[0], g / g.square().mean().sqrt())
    assert torch.equal(feats[1], torch.sign(g))
    torch.testing.assert_close(feats[2], weight.detach() / weight.detach().square().mean().sqrt())
    assert feats[0].square().mean().item() == pytest.approx(1.0, rel=1e-4)
    # the gradient is the real dL/dtheta at the pivot: a small step against it lowers the loss
    with torch.no_grad():
        base = ((synthesize(G, pivot) - astronaut) ** 2).mean()
        step = {n: -1e-3 * v / v.norm() for n, v in grads.items()}
        assert ((synthesize(G, pivot, step) - astronaut) ** 2).mean() < base


def test_channel_mixing_starts_as_elementwise():
    torch.manual_seed(0)
    shape = torch.Size([6, 5, 3, 3])
    feats = torch.randn(2, *shape)
    elem = ElementwiseGMM(shape, 2, 4)
    mix = ChannelMixingGMM(shape, 2, 4)
    mix.load_state_dict({**elem.state_dict(), **{k: v for k, v in mix.state_dict().items() if k not in elem.state_dict()}})
    with torch.no_grad():
        elem.gain.fill_(0.5)
        mix.gain.fill_(0.5)
        torch.testing.assert_close(mix(feats), elem(feats))
        mix.b_out.normal_()
        assert not torch.allclose(mix(feats), elem(feats))


def test_multiplicative_update_scales_with_the_weight():
    w = {"a": torch.tensor([[1.0, -2.0], [0.0, 4.0]])}
    f = {"a": torch.ones(1, 2, 2)}
    gmms = GradientModificationModules(w, f, structure="elementwise", hidden=2, update="multiplicative")
    with torch.no_grad():
        gmms.modules_by_index[0].gain.fill_(1.0)
        out = gmms.modules_by_index[0](f["a"])
        torch.testing.assert_close(gmms()["a"], w["a"] * out)
    with pytest.raises(ConfigError, match="update must be"):
        GradientModificationModules(w, f, structure="elementwise", hidden=2, update="sideways")
    with pytest.raises(UnknownNameError, match="valid GMM structures"):
        GradientModificationModules(w, f, structure="transformer", hidden=2)


def test_gani_reduces_mse_vs_pivot_on_a_photo_and_keeps_G(G, astronaut):
    before = {k: v.clone() for k, v in G.state_dict().items()}
    result = GaNI(GaNI.make_config("mse", TINY)).invert(G, astronaut, seed=0)
    with torch.no_grad():
        pivot_image = synthesize(G, result.latents)
    mse = lambda x: ((x - astronaut) ** 2).mean().item()  # noqa: E731
    assert mse(result.reconstruction) < 0.8 * mse(pivot_image)
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in G.parameters())
    # the pivot is the shared projection's, untouched by the tuning
    pivot = project(G, astronaut, space="w", settings=GaNI.make_config("mse", TINY).pivot_settings(), seed=0)
    assert torch.equal(result.latents, pivot.latents)
    assert set(result.weight_deltas[0]) == set(select_layers(G, "conv_and_torgb_weights", False))
    assert set(result.stage_seconds) == {"pivot", "gradient", "tune"}
    # the materialised deltas reproduce the reconstruction in a single application
    with torch.no_grad():
        assert torch.equal(synthesize(G, result.latents, result.weight_deltas[0]), result.reconstruction)


def test_gani_is_deterministic_and_batch_matches_single(G, astronaut):
    small = {**TINY, "pivot_steps": 4, "tune_steps": 4}
    method = GaNI(GaNI.make_config("mse", small))
    flipped = astronaut.flip(-1)
    batch = method.invert(G, torch.cat([astronaut, flipped]), seed=2)
    again = method.invert(G, torch.cat([astronaut, flipped]), seed=2)
    assert torch.equal(batch.reconstruction, again.reconstruction)
    second = method.invert(G, flipped, seed=3)
    # image 1 of the batch == image alone at seed + 1, up to the batched pivot's float rounding
    # (~1e-4 relative) amplified by the GMM's Adam steps; swapped images would differ by ~100%
    for name, d in second.weight_deltas[0].items():
        assert (batch.weight_deltas[1][name] - d).norm() <= 5e-2 * d.norm() + 1e-6, name
    torch.testing.assert_close(batch.reconstruction[1:], second.reconstruction, atol=2e-2, rtol=0)
    assert (batch.reconstruction[0] - second.reconstruction[0]).abs().max() > 0.1


def test_layer_sets_and_bias_option(G):
    all_w = select_layers(G, "conv_and_torgb_weights", False)
    assert all(n.endswith(".weight") and "affine" not in n for n in all_w)
    assert any("torgb" in n for n in all_w)
    mf = select_layers(G, "medium_fine", False)
    assert mf and all("torgb" not in n and int(n.split(".")[1][1:]) >= 16 for n in mf)
    with_b = select_layers(G, "conv_and_torgb_weights", True)
    assert set(with_b) - set(all_w) == {n[: -len("weight")] + "bias" for n in all_w}


def test_ablation_configs_cover_every_entry():
    configs = ablation_configs("fast")
    assert set(configs) == set(ABLATIONS)
    assert configs["channel_mixing"].structure == "channel_mixing"
    assert configs["no_locality"].locality_weight == 0.0
    assert configs["default"] == GaNI.make_config("fast")
