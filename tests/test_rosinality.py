"""rosinality stylegan2-pytorch checkpoints <-> our (NVIDIA-named) Generator.

``tests/data/ckpt/rosinality_tiny.pt`` was written by rosinality's own ``model.py`` (its
``Generator(size=32, style_dim=16, n_mlp=3)`` with the channel table shrunk to 4:16, 8:16,
16:16, 32:8 to keep the file small; noise strengths and biases randomised so that they
matter), saved with ``torch.save({'g_ema', 'latent_avg', ...})`` as its ``convert_weight.py``
does, plus reference tensors its forward pass produced on CPU: ``reference_z``,
``reference_w`` (``get_latent``) and ``reference_img_truncation_0.7`` (``truncation=0.7``,
``randomize_noise=False``, i.e. the stored noise buffers).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from gani_bench.checkpoints import save_rosinality, to_rosinality
from gani_bench.generators import load_generator
from gani_bench.checkpoints.rosinality import estimate_w_avg, from_rosinality, infer_init_kwargs, name_table
from gani_bench.errors import CheckpointError
from gani_bench.stylegan2.networks import Generator
from helpers import Evil, one_line_error

ROSINALITY_FIXTURE = Path(__file__).resolve().parent / "data" / "ckpt" / "rosinality_tiny.pt"

TINY_KWARGS = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                   mapping_kwargs=dict(num_layers=3),
                   synthesis_kwargs=dict(channel_base=256, channel_max=16, num_fp16_res=0, conv_clamp=None))


def tiny_generator(seed: int = 0) -> Generator:
    G = Generator(**json.loads(json.dumps(TINY_KWARGS)))
    G.reset_parameters(torch.Generator().manual_seed(seed))
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for name, p in G.named_parameters():
            if name.endswith("noise_strength") or name.endswith(".bias"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.2)
        G.mapping.w_avg.normal_(generator=gen)
    return G.eval().requires_grad_(False)


def test_real_rosinality_checkpoint_reproduces_rosinality_outputs() -> None:
    G, info = load_generator(ROSINALITY_FIXTURE)
    ref = torch.load(ROSINALITY_FIXTURE, weights_only=True)
    assert (info.format, info.resolution, info.num_ws, info.w_dim) == ("rosinality-pt", 32, 8, 16)
    assert info.metadata["init_kwargs"]["synthesis_kwargs"]["channel_base"] == 256
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(ref["reference_z"], None)[:, 0], ref["reference_w"], rtol=1e-5, atol=1e-5)
        ws = G.mapping(ref["reference_z"], None, truncation_psi=0.7)
        img = G.synthesis(ws, noise_mode="const")
    torch.testing.assert_close(img, ref["reference_img_truncation_0.7"], rtol=1e-4, atol=1e-4)


def test_roundtrip_gives_identical_state_dict() -> None:
    G = tiny_generator()
    ckpt = to_rosinality(G)
    kwargs, state, has_avg = from_rosinality("mem", ckpt)
    assert has_avg and kwargs == TINY_KWARGS
    ours = G.state_dict()
    assert state.keys() == ours.keys()
    assert all(torch.equal(state[k], ours[k]) for k in ours)


def test_exported_names_and_shapes_follow_rosinality() -> None:
    ckpt = to_rosinality(tiny_generator())
    g = ckpt["g_ema"]
    expected_shapes = {
        "style.1.weight": (16, 16), "style.3.bias": (16,), "input.input": (1, 16, 4, 4),
        "conv1.conv.weight": (1, 16, 16, 3, 3), "conv1.noise.weight": (1,), "conv1.activate.bias": (16,),
        "to_rgb1.bias": (1, 3, 1, 1), "to_rgb1.conv.weight": (1, 3, 16, 1, 1),
        "convs.4.conv.weight": (1, 8, 16, 3, 3), "convs.5.conv.modulation.weight": (8, 16),
        "convs.5.conv.modulation.bias": (8,), "to_rgbs.2.conv.weight": (1, 3, 8, 1, 1),
        "noises.noise_0": (1, 1, 4, 4), "noises.noise_6": (1, 1, 32, 32), "convs.0.conv.blur.kernel": (4, 4),
    }
    assert {k: tuple(g[k].shape) for k in expected_shapes} == expected_shapes
    assert "convs.1.conv.blur.kernel" not in g  # only up-sampling convs blur in rosinality's model
    assert len(g) == 71 and tuple(ckpt["latent_avg"].shape) == (16,)
    # rosinality's make_kernel([1,3,3,1]) scaled by the up-sampling gain 4
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    torch.testing.assert_close(g["to_rgbs.0.upsample.kernel"], torch.outer(k, k) / 64 * 4)
    # noise buffers: b8.conv0 -> noise_1, b16.conv1 -> noise_4 (2i+1 / 2i+2 with i = log2(r) - 3)
    G = tiny_generator()
    assert torch.equal(g["noises.noise_1"][0, 0], G.synthesis.b8.conv0.noise_const)
    assert torch.equal(g["noises.noise_4"][0, 0], G.synthesis.b16.conv1.noise_const)


def test_loader_output_equals_original_generator(tmp_path: Path) -> None:
    G = tiny_generator()
    path = save_rosinality(G, tmp_path / "tiny.pt")
    G2, info = load_generator(path)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = G.synthesis(G.mapping(z, None, truncation_psi=0.5), noise_mode="const")
        b = G2.synthesis(G2.mapping(z, None, truncation_psi=0.5), noise_mode="const")
    assert torch.equal(a, b)
    assert info.metadata["w_avg"] == "latent_avg"


def test_config_f_is_inferred_from_shapes() -> None:
    """Full-size config-f (channel_multiplier 2) and a channel_multiplier-1 network."""
    for multiplier_base, resolution in ((32768, 1024), (16384, 256)):
        kwargs = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                      mapping_kwargs=dict(num_layers=8),
                      synthesis_kwargs=dict(channel_base=multiplier_base, channel_max=512, num_fp16_res=0, conv_clamp=None))
        g = to_rosinality(Generator(**json.loads(json.dumps(kwargs))))["g_ema"]
        assert infer_init_kwargs("meta", g) == kwargs
        if resolution == 1024:
            assert len([k for k in g if k.startswith("style.")]) == 16 and tuple(g["convs.15.conv.weight"].shape) == (1, 32, 32, 3, 3)


def test_name_table_is_a_bijection() -> None:
    table = name_table(1024, 8)
    ours, theirs = zip(*table)
    assert len(set(ours)) == len(ours) == len(set(theirs))


def test_missing_and_misshaped_keys_are_named(tmp_path: Path) -> None:
    ckpt = to_rosinality(tiny_generator())
    del ckpt["g_ema"]["convs.3.noise.weight"]
    path = tmp_path / "missing.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "missing 1 tensor(s): convs.3.noise.weight" in one_line_error(exc, path)
    ckpt = to_rosinality(tiny_generator())
    ckpt["g_ema"]["convs.2.conv.modulation.weight"] = torch.zeros(5, 16)
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "mis-shaped 1 tensor(s): convs.2.conv.modulation.weight (5, 16) != (16, 16)" in one_line_error(exc, path)
    ckpt = to_rosinality(tiny_generator())
    ckpt["latent_avg"] = torch.zeros(7)
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "latent_avg has shape (7,)" in one_line_error(exc, path)


def test_torch_file_without_g_ema(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "without 'g_ema' (holds: state_dict)" in one_line_error(exc, path)


def test_missing_latent_avg_is_estimated(tmp_path: Path) -> None:
    G = tiny_generator()
    ckpt = to_rosinality(G)
    del ckpt["latent_avg"]
    path = tmp_path / "noavg.pt"
    torch.save(ckpt, path)
    G2, info = load_generator(path)
    assert info.metadata["w_avg"].startswith("estimated")
    torch.testing.assert_close(G2.mapping.w_avg, estimate_w_avg(G2))
    assert not torch.allclose(G2.mapping.w_avg, G.mapping.w_avg)


def test_truncated_torch_archive(tmp_path: Path) -> None:
    path = save_rosinality(tiny_generator(), tmp_path / "full.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError) as exc:
        load_generator(cut)
    assert "truncated or corrupt" in one_line_error(exc, cut)


def test_code_in_a_torch_archive_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "x": Evil(os.system, f"touch {sentinel}")}, path)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "refusing to load: the torch file asks for posix.system" in one_line_error(exc, path)
    assert not sentinel.exists()
