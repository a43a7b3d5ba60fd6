"""Pixel metrics (MSE, PSNR, MS-SSIM), the metric registry and ``gani-bench metrics list``."""
from __future__ import annotations

import math
from importlib import metadata

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from pytorch_msssim import ms_ssim

from gani_bench.metrics.base import METRICS, resize_for_eval
from gani_bench.metrics.mse import MSE, PSNR, psnr_from_mse
from gani_bench.metrics.msssim import MSSSIM
from gani_bench.plugins import load_plugins


def _images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # smooth random images (low-frequency noise upsampled) so SSIM statistics are meaningful
    low = torch.rand(n, 3, size // 8, size // 8, generator=g) * 2 - 1
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def test_mse_of_constant_images_is_the_hand_value():
    pred = torch.full((2, 3, 64, 48), 0.5)
    target = torch.full((2, 3, 64, 48), -0.25)
    target[1] = 0.5  # second pair identical
    mse = MSE().compute(pred, target)  # resized to 256x256 first; constants stay constant
    torch.testing.assert_close(mse, torch.tensor([0.5625, 0.0]))
    psnr = PSNR().compute(pred, target)
    assert psnr[0].item() == pytest.approx(10 * math.log10(4 / 0.5625), abs=1e-5)
    assert psnr[1].item() == math.inf  # identical images


def test_mse_is_per_image_and_at_256():
    x, y = _images(3, 512, 0), _images(3, 512, 1)
    got = MSE().compute(x, y)
    expected = torch.stack([((resize_for_eval(x[i : i + 1]) - resize_for_eval(y[i : i + 1])) ** 2).mean() for i in range(3)])
    torch.testing.assert_close(got, expected)
    # one image's value does not depend on the rest of the batch
    torch.testing.assert_close(MSE().compute(x[1:2], y[1:2]), got[1:2])


def test_psnr_formula():
    mse = torch.tensor([1.0, 0.04, 4.0])
    torch.testing.assert_close(psnr_from_mse(mse), torch.tensor([10 * math.log10(4.0), 10 * math.log10(100.0), 0.0]))
    assert psnr_from_mse(torch.tensor([0.01]), data_range=1.0).item() == pytest.approx(20.0)


def test_ms_ssim_matches_pytorch_msssim_at_256():
    x, y = _images(2, 256, 2), _images(2, 256, 3)
    y = 0.6 * x + 0.4 * y  # related images: a mid-range score
    ref = ms_ssim((x + 1) / 2, (y + 1) / 2, data_range=1.0, size_average=False)
    got = MSSSIM().compute(x, y)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    assert 0.2 < got.min().item() and got.max().item() < 0.99


def test_ms_ssim_self_similarity_and_monotone_in_noise():
    x = _images(1, 256, 4)
    assert MSSSIM().compute(x, x).item() == pytest.approx(1.0, abs=1e-5)
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(x.shape, generator=g)
    scores = [MSSSIM().compute(x, (x + s * noise).clamp(-1, 1)).item() for s in (0.05, 0.2, 0.5)]
    assert scores[0] > scores[1] > scores[2]


def test_ms_ssim_upsamples_small_inputs():
    x, y = _images(2, 32, 6), _images(2, 32, 7)
    got = MSSSIM().compute(x, y)  # 32 px cannot hold 5 scales; it is compared at 256 px
    ref = ms_ssim((resize_for_eval(x) + 1) / 2, (resize_for_eval(y) + 1) / 2, data_range=1.0, size_average=False)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    with pytest.raises(AssertionError):
        ms_ssim((x + 1) / 2, (y + 1) / 2, data_range=1.0)  # what happens without the resize


def test_registry_names_directions_and_weights():
    load_plugins()
    expected = {
        "mse": ("lower", ()),
        "psnr": ("higher", ()),
        "ms_ssim": ("higher", ()),
        "lpips": ("lower", ("lpips-alexnet",)),
        "lpips_vgg": ("lower", ("lpips-vgg16",)),
        "id_similarity": ("higher", ("curricularface-ir101",)),
        "id_similarity_arcface": ("higher", ("arcface-ir-se50",)),
        "id_similarity_facenet": ("higher", ("facenet-vggface2",)),
        "id_similarity_dlib": ("higher", ("dlib-face-recognition", "dlib-shape-predictor-5")),
    }
    for name, (direction, weights) in expected.items():
        cls = METRICS.get(name)
        assert cls.name == name and cls.direction == direction and tuple(cls.weights) == weights
        assert cls.kind == "image" and cls.summary


def test_cli_metrics_list(monkeypatch, tmp_path):
    from gani_bench.cli.metrics import metrics

    monkeypatch.setenv("GANI_BENCH_HOME", str(tmp_path / "empty_home"))
    result = CliRunner().invoke(metrics, ["list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "lower is better" in rows["mse"] and "ready" in rows["mse"]
    assert "higher is better" in rows["ms_ssim"] and "ready" in rows["ms_ssim"]
    # an empty cache: LPIPS and CurricularFace say what to run; dlib's installed files are found
    assert "missing weights" in rows["lpips"] and "gani-bench weights download lpips-alexnet" in rows["lpips"]
    assert "gani-bench weights download curricularface-ir101" in rows["id_similarity"]
    pytest.importorskip("dlib")
    try:  # never import face_recognition_models itself: its __init__ needs pkg_resources
        metadata.distribution("face_recognition_models")
    except metadata.PackageNotFoundError:
        pytest.skip("face_recognition_models is not installed (pip install 'gani-bench[dlib]')")
    assert "ready" in rows["id_similarity_dlib"]
