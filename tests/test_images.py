"""Image loading: every kind of bad file is fixed where the fix is obvious, else skipped in one line."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from gani_bench.errors import ImageError
from gani_bench.harness.images import ImagePolicy, load_image, pil_to_tensor, save_png, tensor_to_pil


def _save(arr: np.ndarray, path, mode=None):
    Image.fromarray(arr, mode=mode).save(path)
    return path


def test_corrupt_bytes_are_skipped_with_one_line(tmp_path):
    bad = tmp_path / "broken.png"
    good = tmp_path / "good.png"
    _save(np.zeros((32, 32, 3), np.uint8), good)
    bad.write_bytes(good.read_bytes()[:60])  # truncated PNG
    with pytest.raises(ImageError) as exc:
        load_image(bad, 32)
    msg = str(exc.value)
    assert str(bad) in msg and "\n" not in msg
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(junk, 32)


def test_grayscale_becomes_rgb_with_equal_channels(tmp_path):
    arr = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    t, fixes = load_image(_save(arr, tmp_path / "g.png"), 32)
    assert t.shape == (3, 32, 32)
    assert torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])
    assert torch.allclose(t[0, 0], torch.from_numpy(arr[0]).float() / 127.5 - 1)
    assert any("converted to RGB" in f for f in fixes)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    arr = np.full((20, 20), 65535, dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(arr).save(path)
    t, _ = load_image(path, 20)
    assert torch.allclose(t, torch.ones_like(t))


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((32, 32, 4), np.uint8)
    arr[:, :16] = (255, 0, 0, 255)  # opaque red left half
    arr[:, 16:] = (0, 0, 255, 0)  # fully transparent right half -> white
    t, fixes = load_image(_save(arr, tmp_path / "a.png", "RGBA"), 32)
    assert torch.allclose(t[:, :, 0], torch.tensor([1.0, -1.0, -1.0])[:, None].expand(3, 32))
    assert torch.allclose(t[:, :, -1], torch.ones(3, 32))
    assert any("composited on white" in f for f in fixes)


def test_tiny_images_are_skipped(tmp_path):
    with pytest.raises(ImageError, match="smaller than 16 px"):
        load_image(_save(np.zeros((15, 40, 3), np.uint8), tmp_path / "tiny.png"), 64)


def test_decompression_bomb_guard_refuses_before_decoding(tmp_path, monkeypatch):
    path = _save(np.zeros((40, 40, 3), np.uint8), tmp_path / "big.png")
    decoded = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(1)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    with pytest.raises(ImageError, match="decompression-bomb guard"):
        load_image(path, 32, policy=ImagePolicy(max_pixels=40 * 40 - 1))
    assert decoded == []  # refused on the header alone
    load_image(path, 32, policy=ImagePolicy(max_pixels=40 * 40))  # at the limit: decoded
    assert decoded


def test_mild_aspect_is_centre_cropped_extreme_is_skipped(tmp_path):
    arr = np.zeros((60, 100, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:80] = (0, 255, 0)
    arr[:, 80:] = (0, 0, 255)
    t, fixes = load_image(_save(arr, tmp_path / "wide.png"), 60)
    assert torch.allclose(t, torch.tensor([-1.0, 1.0, -1.0])[:, None, None].expand(3, 60, 60))
    assert any("centre-cropped 100x60" in f for f in fixes)
    with pytest.raises(ImageError, match="aspect ratio 2.50"):
        load_image(_save(np.zeros((40, 100, 3), np.uint8), tmp_path / "pano.png"), 32)


def test_resize_is_pil_lanczos_and_range_is_minus_one_to_one(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    path = _save(arr, tmp_path / "n.png")
    t, fixes = load_image(path, 32)
    expected = pil_to_tensor(Image.fromarray(arr).resize((32, 32), Image.LANCZOS))
    assert torch.equal(t, expected)
    assert fixes == []
    assert t.min() >= -1 and t.max() <= 1


def test_png_round_trip_is_exact(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    t = pil_to_tensor(Image.fromarray(arr))
    save_png(t, tmp_path / "x" / "y.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x" / "y.png")), arr)
    assert not list((tmp_path / "x").glob("*.part"))
    assert np.array_equal(np.asarray(tensor_to_pil(t)), arr)
