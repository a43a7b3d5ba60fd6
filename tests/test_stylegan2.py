"""Our Generator against tensors produced by NVIDIA's stylegan2-ada-pytorch.

How tests/data/nvidia_ref/*.pt were produced (script kept outside the repo, not committed):
NVIDIA stylegan2-ada-pytorch at commit d72cc7d041b42ec8e806021a205ed9349f87c6a4
(``training/networks.py``; on CPU its custom ops use their reference paths), torch 2.14.1, CPU.
For each configuration: ``torch.manual_seed(1234)``; ``G = training.networks.Generator(**kw)``;
then, to exercise every term, noise strengths set to 0.25, non-affine biases += 0.2*N(0,1),
``b4.const`` scaled (x600 in ``b_64px_clamp`` so that ``conv_clamp=256`` clips activations in
almost every layer, x3 in ``c_16px_resnet_cond`` with clamp 8; the file records per-layer
clip counts in ``clamp_hits``) and ``w_avg`` = 0.5*N(0,1). Stored: ``init_kwargs``,
``state_dict``, ``z``, ``c``, ``ws = G.mapping(z, c)``, truncated ``ws`` (psi 0.7 with cutoff,
psi 0.5 without), images for noise modes const / none / random (after
``torch.manual_seed(77)``), the train-mode (non-fused modconv) image, and gradients of
``(img * proj).sum()`` (``proj`` = randn from ``torch.Generator().manual_seed(proj_seed)``)
w.r.t. ``ws`` and a few named parameters in eval and train mode, plus the gradient of a fixed
linear functional of the truncated mapping output w.r.t. ``z`` and ``mapping.fc1.weight``.
Configurations: a) 32 px skip, z/w 64, 2 mapping layers, channel_base 512, channel_max 48,
no clamp; b) 64 px skip, z/w 32, 8 mapping layers, channel_max 24, conv_clamp 256;
c) 16 px resnet, conditional (c_dim 4), lr_multiplier 0.1, conv_clamp 8; d) 16 px orig, 1 channel;
e) 16 px with num_fp16_res 2 and conv_clamp 256 like NVIDIA's FFHQ models, where NVIDIA was run
with ``force_fp32=True`` and ours runs without it (fp16 blocks run in fp32 on the CPU by design).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import torch

from gani_bench.stylegan2 import Generator
from gani_bench.stylegan2.networks import SynthesisLayer, ToRGBLayer

REF_DIR = Path(__file__).resolve().parent / "data" / "nvidia_ref"
CONFIGS = ["a_32px_skip", "b_64px_clamp", "c_16px_resnet_cond", "d_16px_orig", "e_16px_fp16_ffhq_like"]
TOL = 1e-4


def _load(name: str) -> Dict[str, Any]:
    return torch.load(REF_DIR / f"{name}.pt", weights_only=True)


def _build(ref: Dict[str, Any]) -> Generator:
    G = Generator(**ref["init_kwargs"])
    G.load_state_dict(ref["state_dict"], strict=True)
    return G.eval()


def _close(a: torch.Tensor, b: torch.Tensor, rel_scale: bool = False) -> None:
    """Max abs difference <= 1e-4 (relative to the tensor's scale where values are ~500)."""
    scale = max(1.0, float(b.abs().max())) if rel_scale else 1.0
    err = float((a - b).abs().max())
    assert err <= TOL * scale, f"max abs error {err:.3g} > {TOL * scale:.3g}"


@pytest.fixture(scope="module", params=CONFIGS)
def ref(request: pytest.FixtureRequest) -> Dict[str, Any]:
    return _load(request.param)


def test_state_dict_names_and_shapes_match_exactly(ref: Dict[str, Any]) -> None:
    G = Generator(**ref["init_kwargs"])
    ours = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in ref["state_dict"].items()}
    assert ours == theirs


def test_resample_filter_buffers_equal_nvidia(ref: Dict[str, Any]) -> None:
    G = Generator(**ref["init_kwargs"])
    for k, v in G.state_dict().items():
        if k.endswith("resample_filter"):
            assert torch.equal(v, ref["state_dict"][k]), k


def test_mapping_matches(ref: Dict[str, Any]) -> None:
    G = _build(ref)
    with torch.no_grad():
        _close(G.mapping(ref["z"], ref["c"]), ref["ws"])
        _close(G.mapping(ref["z"], ref["c"], truncation_psi=0.7, truncation_cutoff=ref["truncation_cutoff"]), ref["ws_trunc"])
        _close(G.mapping(ref["z"], ref["c"], truncation_psi=0.5), ref["ws_trunc_all"])


def test_truncation_cutoff_leaves_later_ws_alone(ref: Dict[str, Any]) -> None:
    cutoff = ref["truncation_cutoff"]
    if cutoff is None:
        pytest.skip("configuration stores no cutoff")
    G = _build(ref)
    with torch.no_grad():
        full = G.mapping(ref["z"], ref["c"])
        trunc = G.mapping(ref["z"], ref["c"], truncation_psi=0.7, truncation_cutoff=cutoff)
    assert torch.equal(trunc[:, cutoff:], full[:, cutoff:])
    assert not torch.allclose(trunc[:, :cutoff], full[:, :cutoff])


@pytest.mark.parametrize("mode", ["const", "none"])
def test_synthesis_matches_deterministic_noise_modes(ref: Dict[str, Any], mode: str) -> None:
    G = _build(ref)
    with torch.no_grad():
        img = G.synthesis(ref["ws"], noise_mode=mode)
    _close(img, ref[f"img_{mode}"], rel_scale=True)


def test_synthesis_random_noise_draws_like_nvidia(ref: Dict[str, Any]) -> None:
    """Same global seed -> same noise draws in the same layer order -> same image."""
    G = _build(ref)
    torch.manual_seed(77)
    with torch.no_grad():
        img = G.synthesis(ref["ws"], noise_mode="random")
    _close(img, ref["img_random_seed77"], rel_scale=True)


def test_full_forward_with_truncation(ref: Dict[str, Any]) -> None:
    if "img_trunc_const" not in ref:
        pytest.skip("stored only for the small configurations")
    G = _build(ref)
    with torch.no_grad():
        img = G(ref["z"], ref["c"], truncation_psi=0.7, truncation_cutoff=ref["truncation_cutoff"], noise_mode="const")
    _close(img, ref["img_trunc_const"], rel_scale=True)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_gradients_match(ref: Dict[str, Any], mode: str) -> None:
    """eval = fused (grouped) modulated conv, train = modulate-activations path."""
    G = _build(ref).train(mode == "train")
    ws = ref["ws"].clone().requires_grad_(True)
    img = G.synthesis(ws, noise_mode="const")
    if mode == "train":
        _close(img.detach(), ref["img_train"], rel_scale=True)
    proj = torch.randn(list(img.shape), generator=torch.Generator().manual_seed(int(ref["proj_seed"])))
    (img * proj).sum().backward()
    grads = ref[f"grads_{mode}"]
    _close(ws.grad, grads["ws"], rel_scale=True)
    params = dict(G.named_parameters())
    checked = [k for k in grads if k != "ws"]
    assert len(checked) >= 5
    for k in checked:
        _close(params[k].grad, grads[k], rel_scale=True)


def test_mapping_gradients_through_truncation(ref: Dict[str, Any]) -> None:
    G = _build(ref)
    z = ref["z"].clone().requires_grad_(True)
    w = G.mapping(z, ref["c"], truncation_psi=0.7, truncation_cutoff=ref["truncation_cutoff"])
    (w * torch.linspace(-1, 1, w.numel()).reshape(w.shape)).sum().backward()
    _close(z.grad, ref["grad_z_trunc"], rel_scale=True)
    _close(G.mapping.fc1.weight.grad, ref["grad_mapping_fc1_trunc"], rel_scale=True)


def test_clamp_config_really_clamps() -> None:
    """Guard the reference itself: configuration b must exercise conv_clamp in most layers."""
    ref = _load("b_64px_clamp")
    hits = ref["clamp_hits"]
    assert sum(1 for v in hits.values() if v > 0) >= 10
    G = _build(ref)
    seen: Dict[str, float] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, k=k: seen.__setitem__(k, float(o.abs().max())))
             for k, m in G.named_modules() if isinstance(m, (SynthesisLayer, ToRGBLayer))]
    with torch.no_grad():
        G.synthesis(ref["ws"], noise_mode="const")
    for h in hooks:
        h.remove()
    assert max(seen.values()) == 256.0


# --- behaviour beyond the stored references ------------------------------------------------


def _tiny(**synthesis_kwargs: Any) -> Generator:
    return Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                     mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8, **synthesis_kwargs))


def test_init_kwargs_rebuild_an_identical_architecture() -> None:
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 64, "channel_max": 8, "conv_clamp": 256})
    H = Generator(**G.init_kwargs)
    H.load_state_dict(G.state_dict(), strict=True)
    assert G.init_kwargs["synthesis_kwargs"]["conv_clamp"] == 256
    assert (G.z_dim, G.c_dim, G.w_dim, G.img_resolution, G.img_channels, G.num_ws) == (8, 0, 8, 16, 3, 6)


@pytest.mark.parametrize("res,num_ws", [(4, 2), (8, 4), (128, 12), (1024, 18)])
def test_num_ws_follows_resolution(res: int, num_ws: int) -> None:
    G = Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=res, img_channels=3,
                  mapping_kwargs={"num_layers": 1}, synthesis_kwargs={"channel_base": 2 * res, "channel_max": 2})
    assert G.num_ws == num_ws


def test_update_emas_moves_w_avg_only_when_asked() -> None:
    G = _tiny().train()
    z = torch.randn(4, 8)
    before = G.mapping.w_avg.clone()
    G.mapping(z, None)
    assert torch.equal(G.mapping.w_avg, before)
    G.mapping(z, None, update_emas=True)
    assert not torch.equal(G.mapping.w_avg, before)


def test_bad_ws_shape_is_a_one_line_error() -> None:
    G = _tiny()
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 4, 8\]"):
        G.synthesis(torch.zeros(1, 3, 8))


def test_num_fp16_res_runs_fp32_on_cpu() -> None:
    G = _tiny(num_fp16_res=2)
    H = _tiny()
    H.load_state_dict(G.state_dict())
    ws = torch.randn(2, G.num_ws, 8)
    with torch.no_grad():
        assert torch.equal(G.eval().synthesis(ws, noise_mode="const"), H.eval().synthesis(ws, noise_mode="const"))


def test_reset_parameters_is_seeded_and_leaves_global_rng() -> None:
    G, H = _tiny(), _tiny()
    state = torch.random.get_rng_state()
    G.reset_parameters(torch.Generator().manual_seed(5))
    assert torch.equal(torch.random.get_rng_state(), state)
    H.reset_parameters(torch.Generator().manual_seed(5))
    for (k, a), (_, b) in zip(G.state_dict().items(), H.state_dict().items()):
        assert torch.equal(a, b), k


# --- the embedded (seeded, untrained) generator -------------------------------------------


def test_embedded_generator_is_deterministic_and_seed_dependent() -> None:
    from gani_bench.stylegan2.embedded import EMBEDDED_KWARGS, build_embedded_generator

    state = torch.random.get_rng_state()
    A, B, C = build_embedded_generator(0), build_embedded_generator(0), build_embedded_generator(1)
    assert torch.equal(torch.random.get_rng_state(), state), "building must not consume the global RNG"
    sa, sb, sc = A.state_dict(), B.state_dict(), C.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["synthesis.b8.conv0.weight"], sc["synthesis.b8.conv0.weight"])
    assert not torch.equal(sa["synthesis.b8.conv0.noise_const"], sc["synthesis.b8.conv0.noise_const"])
    assert A.init_kwargs == EMBEDDED_KWARGS and (A.img_resolution, A.z_dim, A.w_dim, A.num_ws) == (64, 128, 128, 10)


def test_embedded_w_avg_is_the_mean_of_mapped_z() -> None:
    """w_avg from 10,000 seeded z must be close to a fresh estimate from other z."""
    from gani_bench.stylegan2.embedded import build_embedded_generator

    G = build_embedded_generator(0)
    with torch.no_grad():
        w = G.mapping(torch.randn(4000, G.z_dim, generator=torch.Generator().manual_seed(123)), None)[:, 0]
    spread = float(w.std(dim=0).mean())
    err = float((w.mean(dim=0) - G.mapping.w_avg).abs().max())
    assert float(G.mapping.w_avg.abs().max()) > 0
    assert err < 0.1 * spread  # standard error of 4,000 + 10,000 samples is ~0.02 * spread


def test_embedded_images_are_finite_and_varied() -> None:
    from gani_bench.stylegan2.embedded import build_embedded_generator

    G = build_embedded_generator(0)
    with torch.no_grad():
        img = G(torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(9)), None, noise_mode="const")
    assert img.shape == (4, 3, 64, 64) and bool(torch.isfinite(img).all())
    assert float(img.std(dim=(1, 2, 3)).min()) > 0.05  # not flat
    assert float((img[0] - img[1]).abs().mean()) > 0.05  # different z, different image


def test_embedded_output_is_calibrated_to_the_image_range() -> None:
    """Fresh z (not the calibration draws): per-channel mean ~0, std ~OUTPUT_STD, few clipped pixels."""
    from gani_bench.stylegan2.embedded import OUTPUT_STD, build_embedded_generator

    G = build_embedded_generator(0)
    with torch.no_grad():
        img = G(torch.randn(128, G.z_dim, generator=torch.Generator().manual_seed(77)), None, noise_mode="const")
    assert abs(float(img.std()) - OUTPUT_STD) < 0.1 * OUTPUT_STD
    assert float(img.mean(dim=(0, 2, 3)).abs().max()) < 0.15
    assert float((img.abs() > 1).float().mean()) < 0.1


def test_embedded_calibration_only_touches_torgb(monkeypatch: pytest.MonkeyPatch) -> None:
    """The calibration rescales ToRGB weights and the last ToRGB bias; every other tensor is NVIDIA's init."""
    from gani_bench.stylegan2 import embedded

    calibrated = embedded.build_embedded_generator(0)
    monkeypatch.setattr(embedded, "_calibrate_output", lambda G, gen: None)
    raw = embedded.build_embedded_generator(0)
    raw_params, cal_params = dict(raw.named_parameters()), dict(calibrated.named_parameters())
    changed = sorted(n for n in raw_params if not torch.equal(raw_params[n], cal_params[n]))
    torgb_weights = sorted(n for n in raw_params if n.endswith("torgb.weight"))
    assert changed == sorted(torgb_weights + ["synthesis.b64.torgb.bias"])
    factors = [float(cal_params[n].norm() / raw_params[n].norm()) for n in torgb_weights]
    assert max(factors) - min(factors) < 1e-5  # one common factor ...
    for n in torgb_weights:  # ... applied element-wise, not just in norm
        torch.testing.assert_close(cal_params[n], raw_params[n] * factors[0], rtol=1e-5, atol=0)
