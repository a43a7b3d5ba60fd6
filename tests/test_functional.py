"""functional.synthesize: per-layer weight deltas without touching the generator."""
from __future__ import annotations

import copy

import pytest
import torch

from gani_bench.errors import GaniBenchError
from gani_bench.stylegan2 import Generator
from gani_bench.stylegan2.functional import (
    LAYER_SETS,
    synthesize,
    synthesize_batch_deltas,
    tunable_parameter_names,
    zero_deltas,
)


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(3)
    g = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                  mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 16, "conv_clamp": 256})
    with torch.no_grad():
        for n, p in g.named_parameters():
            if n.endswith("noise_strength"):
                p.fill_(0.3)
    return g.eval()


@pytest.fixture(scope="module")
def ws(G: Generator) -> torch.Tensor:
    with torch.no_grad():
        return G.mapping(torch.randn(2, 16, generator=torch.Generator().manual_seed(0)), None)


def _snapshot(G: Generator) -> dict:
    return {k: v.detach().clone() for k, v in G.state_dict().items()}


def _random_deltas(G: Generator, names: list, scale: float = 0.05, seed: int = 1) -> dict:
    gen = torch.Generator().manual_seed(seed)
    params = dict(G.named_parameters())
    return {n: scale * torch.randn(list(params[n].shape), generator=gen) for n in names}


def test_no_deltas_is_bitwise_synthesis(G: Generator, ws: torch.Tensor) -> None:
    with torch.no_grad():
        assert torch.equal(synthesize(G, ws), G.synthesis(ws, noise_mode="const"))


def test_zero_deltas_are_bitwise_synthesis(G: Generator, ws: torch.Tensor) -> None:
    names = tunable_parameter_names(G, "all_synthesis")
    with torch.no_grad():
        out = synthesize(G, ws, zero_deltas(G, names), noise_mode="const")
        assert torch.equal(out, G.synthesis(ws, noise_mode="const"))


def test_delta_equals_mutating_a_deep_copy_and_leaves_G_alone(G: Generator, ws: torch.Tensor) -> None:
    names = tunable_parameter_names(G, "conv_and_torgb_weights", with_bias=True)
    deltas = _random_deltas(G, names)
    before = _snapshot(G)
    H = copy.deepcopy(G)
    with torch.no_grad():
        params = dict(H.named_parameters())
        for n, d in deltas.items():
            params[n].add_(d)
        expected = H.synthesis(ws, noise_mode="const")
        got = synthesize(G, ws, deltas)
    assert float((got - expected).abs().max()) < 1e-5
    assert not torch.allclose(got, G.synthesis(ws, noise_mode="const"))
    after = _snapshot(G)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_gradient_flows_to_deltas_not_to_G(G: Generator, ws: torch.Tensor) -> None:
    names = tunable_parameter_names(G, "medium_fine")
    deltas = zero_deltas(G, names, requires_grad=True)
    G.zero_grad(set_to_none=True)
    G.requires_grad_(False)
    try:
        synthesize(G, ws, deltas).square().mean().backward()
    finally:
        G.requires_grad_(True)
    for n in names:
        assert deltas[n].grad is not None and float(deltas[n].grad.abs().sum()) > 0, n
    assert all(p.grad is None for p in G.parameters())


def test_gradient_of_delta_equals_gradient_of_parameter(G: Generator, ws: torch.Tensor) -> None:
    """At delta=0, d loss / d delta must be d loss / d theta (same function of theta+delta)."""
    name = "synthesis.b16.conv1.weight"
    delta = zero_deltas(G, [name], requires_grad=True)
    G.zero_grad(set_to_none=True)
    H = copy.deepcopy(G)
    synthesize(G, ws, delta).sum().backward()
    G.zero_grad(set_to_none=True)
    H.synthesis(ws, noise_mode="const").sum().backward()
    assert torch.allclose(delta[name].grad, dict(H.named_parameters())[name].grad, atol=1e-6)


def test_unknown_key_is_one_line_error(G: Generator, ws: torch.Tensor) -> None:
    with pytest.raises(GaniBenchError, match=r"'synthesis\.b8\.conv9\.weight' names no synthesis parameter"):
        synthesize(G, ws, {"synthesis.b8.conv9.weight": torch.zeros(1)})
    with pytest.raises(GaniBenchError, match=r"only synthesis parameters"):
        synthesize(G, ws, {"mapping.fc0.weight": torch.zeros(16, 16)})


def test_misshaped_delta_names_key_and_shapes(G: Generator, ws: torch.Tensor) -> None:
    with pytest.raises(GaniBenchError) as info:
        synthesize(G, ws, {"synthesis.b8.conv0.weight": torch.zeros(3, 3)})
    msg = str(info.value)
    assert "synthesis.b8.conv0.weight" in msg and "(3, 3)" in msg and "(16, 16, 3, 3)" in msg and "\n" not in msg


def test_noise_override_replaces_noise_const(G: Generator, ws: torch.Tensor) -> None:
    bufs = {f"synthesis.{k}": v for k, v in G.synthesis.named_buffers() if k.endswith("noise_const")}
    with torch.no_grad():
        same = synthesize(G, ws, noise={k: v.clone() for k, v in bufs.items()})
        assert torch.equal(same, G.synthesis(ws, noise_mode="const"))
        H = copy.deepcopy(G)
        new = {k: torch.randn(1, 1, *v.shape) for k, v in bufs.items()}
        for k, v in new.items():
            dict(H.named_buffers())[k].copy_(v[0, 0])
        got = synthesize(G, ws, noise=new)
        assert float((got - H.synthesis(ws, noise_mode="const")).abs().max()) < 1e-5
    with pytest.raises(GaniBenchError, match="noise_mode='const'"):
        synthesize(G, ws, noise=new, noise_mode="random")
    with pytest.raises(GaniBenchError, match="names no noise buffer"):
        synthesize(G, ws, noise={"synthesis.b8.conv0.weight": torch.zeros(8, 8)})


def test_noise_override_gets_gradient(G: Generator, ws: torch.Tensor) -> None:
    key = "synthesis.b16.conv0.noise_const"
    n = torch.zeros(1, 1, 16, 16, requires_grad=True)
    synthesize(G, ws, noise={key: n}).sum().backward()
    assert float(n.grad.abs().sum()) > 0


def test_batch_deltas_match_per_image_calls(G: Generator, ws: torch.Tensor) -> None:
    names = tunable_parameter_names(G, "conv_and_torgb_weights")
    d0, d1 = _random_deltas(G, names, seed=1), _random_deltas(G, names, seed=2)
    with torch.no_grad():
        batch = synthesize_batch_deltas(G, ws, [d0, d1])  # CPU default: the loop, bit-identical
        assert torch.equal(batch[0:1], synthesize(G, ws[0:1], d0))
        assert torch.equal(batch[1:2], synthesize(G, ws[1:2], d1))
        one = synthesize_batch_deltas(G, ws, [d0, {}], one_pass=True)  # grouped pass: equal up to rounding
        assert float((one[0:1] - synthesize(G, ws[0:1], d0)).abs().max()) < 1e-5
        assert float((one[1:2] - synthesize(G, ws[1:2])).abs().max()) < 1e-5
    with pytest.raises(GaniBenchError, match="one_pass=False"):
        synthesize_batch_deltas(G, ws, [{"synthesis.b16.conv1.bias": torch.zeros(16)}, {}], one_pass=True)
    with pytest.raises(GaniBenchError, match="one dict per image"):
        synthesize_batch_deltas(G, ws, [d0])


def test_layer_sets(G: Generator) -> None:
    params = dict(G.named_parameters())
    all_syn = tunable_parameter_names(G, "all_synthesis")
    assert set(all_syn) == {n for n in params if n.startswith("synthesis.")}
    conv = tunable_parameter_names(G, "conv_and_torgb_weights")
    # 32 px: b4 (conv1, torgb) + 3 blocks x (conv0, conv1, torgb) = 11 layers
    assert len(conv) == 11 and all(n.endswith(".weight") and "affine" not in n for n in conv)
    mf = tunable_parameter_names(G, "medium_fine")
    assert mf == ["synthesis.b16.conv0.weight", "synthesis.b16.conv1.weight", "synthesis.b32.conv0.weight", "synthesis.b32.conv1.weight"]
    with_b = tunable_parameter_names(G, "medium_fine", with_bias=True)
    assert with_b == mf + [n.replace("weight", "bias") for n in mf]
    assert sorted(LAYER_SETS.names()) == ["all_synthesis", "conv_and_torgb_weights", "medium_fine"]


def test_medium_fine_at_1024_is_hyperstyles_fourteen_layers() -> None:
    """HyperStyle layers 5,6,8,9,...,23,24 at 1024 px = conv0/conv1 of b16..b1024 (14 convs)."""
    G = Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=1024, img_channels=3,
                  mapping_kwargs={"num_layers": 1}, synthesis_kwargs={"channel_base": 2048, "channel_max": 2})
    mf = tunable_parameter_names(G, "medium_fine")
    assert len(mf) == 14
    assert {n.split(".")[1] for n in mf} == {f"b{r}" for r in (16, 32, 64, 128, 256, 512, 1024)}
    assert not any("torgb" in n for n in mf)


def test_unknown_layer_set_lists_valid_names(G: Generator) -> None:
    with pytest.raises(GaniBenchError, match="valid layer sets: all_synthesis, conv_and_torgb_weights, medium_fine"):
        tunable_parameter_names(G, "coarse")


def _per_sample(G: Generator, n: int, seed: int, scale: float = 0.1) -> dict:
    from gani_bench.stylegan2.functional import per_sample_parameter_names
    gen = torch.Generator().manual_seed(seed)
    params = dict(G.named_parameters())
    return {k: scale * torch.randn(n, *params[k].shape, generator=gen) for k in per_sample_parameter_names(G)}


@pytest.mark.parametrize("mode", ["add", "mul"])
def test_per_sample_batch_equals_one_at_a_time(G: Generator, mode: str) -> None:
    """One grouped pass == N single passes, to float32 reassociation error.

    Tolerance: the grouped conv sums in a different order than the single pass, so the two
    differ by rounding only. We measure each path's rounding against a float64 rendering of
    the same images and allow the batch/single gap 4x the single path's own float32 error
    (measured on the 64 px embedded generator: gap 5.4e-6, single-vs-float64 3.3e-6).
    """
    n = 4
    ws4 = G.mapping(torch.randn(n, 16, generator=torch.Generator().manual_seed(5)), None)
    d = _per_sample(G, n, seed=7)
    with torch.no_grad():
        batch = synthesize(G, ws4, d, mode=mode)
        single = torch.cat([synthesize(G, ws4[i:i + 1], {k: v[i] for k, v in d.items()}, mode=mode) for i in range(n)])
        G64 = copy.deepcopy(G).double()
        ref = torch.cat([synthesize(G64, ws4[i:i + 1].double(), {k: v[i].double() for k, v in d.items()}, mode=mode) for i in range(n)])
    fp32_err = float((single.double() - ref).abs().max())
    gap = float((batch - single).abs().max())
    assert gap <= 4 * fp32_err + 1e-7, (gap, fp32_err)
    with torch.no_grad():
        plain = synthesize(G, ws4)
    assert float((batch - plain).abs().max()) > 1e-2  # the offsets do change the images


def test_mul_mode_is_weight_times_one_plus_delta(G: Generator, ws: torch.Tensor) -> None:
    key = "synthesis.b16.conv1.weight"
    d = torch.randn(dict(G.named_parameters())[key].shape, generator=torch.Generator().manual_seed(1)) * 0.2
    w = dict(G.named_parameters())[key]
    with torch.no_grad():
        # w * (1 + d) and w + w * d round differently in the last bit only
        gap = (synthesize(G, ws, {key: d}, mode="mul") - synthesize(G, ws, {key: w * d})).abs().max()
        assert float(gap) < 1e-5
        assert float((synthesize(G, ws, {key: d}, mode="mul") - synthesize(G, ws, {key: d})).abs().max()) > 1e-3
    with pytest.raises(GaniBenchError, match="mode='add'"):
        synthesize(G, ws, {key: d}, mode="times")


def test_per_sample_shape_errors(G: Generator, ws: torch.Tensor) -> None:
    key = "synthesis.b16.conv1.weight"
    shape = tuple(dict(G.named_parameters())[key].shape)
    with pytest.raises(GaniBenchError, match="3 per-sample offsets but ws holds 2"):
        synthesize(G, ws, {key: torch.zeros(3, *shape)})
    with pytest.raises(GaniBenchError, match="only modulated conv and ToRGB weights"):
        synthesize(G, ws, {"synthesis.b16.conv1.bias": torch.zeros(2, 16)})


def test_batch_deltas_fallback_loop_for_other_keys(G: Generator, ws: torch.Tensor) -> None:
    d0 = {"synthesis.b16.conv1.bias": torch.full((16,), 0.3)}
    d1 = {"synthesis.b8.conv1.weight": 0.1 * torch.randn(16, 16, 3, 3)}
    with torch.no_grad():
        batch = synthesize_batch_deltas(G, ws, [d0, d1])
        assert torch.equal(batch[0:1], synthesize(G, ws[0:1], d0))
        assert torch.equal(batch[1:2], synthesize(G, ws[1:2], d1))


def test_per_sample_gradients_reach_each_offset(G: Generator, ws: torch.Tensor) -> None:
    d = {k: v.requires_grad_(True) for k, v in _per_sample(G, 2, seed=3).items()}
    img = synthesize(G, ws, d, mode="mul")
    img[0].sum().backward()
    g = d["synthesis.b16.conv1.weight"].grad
    assert float(g[0].abs().sum()) > 0 and float(g[1].abs().sum()) == 0
