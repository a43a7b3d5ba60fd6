"""HyperStyle: layouts, file round trips, generator fit, the iterative inversion contract."""
from __future__ import annotations

import pytest
import torch

from gani_bench.errors import CheckpointError, ConfigError
from gani_bench.hyperstyle import (
    HyperNetConfig, HyperStyle, authors_config, config_for_generator, default_layer_names, load_hyperstyle,
    offsets_to_weight_deltas, save_hyperstyle,
)
from gani_bench.stylegan2 import Generator
from gani_bench.stylegan2.functional import synthesize, synthesize_batch_deltas


def _tiny(seed: int = 3, channel_max: int = 16) -> Generator:
    torch.manual_seed(seed)
    return Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, mapping_kwargs={"num_layers": 2},
                     synthesis_kwargs={"channel_base": 256, "channel_max": channel_max}).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def G() -> Generator:
    return _tiny()


@pytest.fixture(scope="module")
def hs(G: Generator) -> HyperStyle:
    torch.manual_seed(0)
    model = HyperStyle(config_for_generator(G, width=8, code_channels=8, input_size=32)).fit(G).eval()
    with torch.no_grad():  # larger offsets than the near-zero init so the iterations matter
        for blk in model.hypernet.refinement_blocks:
            if blk is not None and hasattr(blk, "linear"):
                blk.linear.weight.mul_(50)
    return model


def test_authors_layouts_match_their_table() -> None:
    cfg = authors_config(1024)
    assert cfg.n_outputs == 26 and cfg.layers[14] == (3, 512, 256) and cfg.layers[25] == (1, 32, 3)
    assert authors_config(512).n_outputs == 23 and authors_config(256).n_outputs == 20
    assert default_layer_names(26)[2:5] == ["synthesis.b8.conv0.weight", "synthesis.b8.conv1.weight", "synthesis.b8.torgb.weight"]
    assert authors_config(1024, separable=True).separable
    with pytest.raises(ConfigError, match="layouts exist for"):
        authors_config(128)
    assert authors_config(512).layers_to_tune == (0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21)
    with pytest.raises(ConfigError, match="names layer 30"):
        HyperNetConfig(layers=authors_config(1024).layers, layers_to_tune=(0, 30))


def test_separable_variant_shapes() -> None:
    G = _tiny()
    cfg = config_for_generator(G, width=8, code_channels=8, input_size=32, tune_torgb=True)
    cfg.separable = True
    model = HyperStyle(cfg).fit(G)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    params = dict(G.named_parameters())
    out = model.offsets(x, x)
    assert set(out) == set(model.layer_names)
    assert all(tuple(v.shape) == (2, *params[k].shape) for k, v in out.items())


def test_invert_contract_and_weight_deltas(G: Generator, hs: HyperStyle) -> None:
    gen = torch.Generator().manual_seed(1)
    ws = G.mapping(torch.randn(3, 16, generator=gen), None)
    targets = G.synthesis(G.mapping(torch.randn(3, 16, generator=gen), None), noise_mode="const")
    with torch.no_grad():
        images, offsets, history = hs.invert(G, targets, ws, n_iters=3)
    assert len(history) == 4 and torch.equal(history[-1], images)
    assert torch.equal(history[0], synthesize(G, ws))
    params = dict(G.named_parameters())
    assert set(offsets) == set(hs.tuned_names)
    assert all(tuple(v.shape) == (3, *params[k].shape) for k, v in offsets.items())
    # accumulation: iteration 3's offsets = sum of three hypernetwork passes on the previous images
    with torch.no_grad():
        total = {}
        for prev in history[:3]:
            for k, v in hs.offsets(targets, prev).items():
                total[k] = total[k] + v if k in total else v
    assert all(float((total[k] - offsets[k]).abs().max()) < 1e-5 for k in offsets)
    # per-image additive deltas reproduce the images through the PTI/GaNI path
    deltas = offsets_to_weight_deltas(G, offsets)
    with torch.no_grad():
        again = synthesize_batch_deltas(G, ws, deltas)
    assert float((again - images).abs().max()) < 1e-4
    assert float((images - history[0]).abs().max()) > 1e-3
    with pytest.raises(ConfigError, match="at least 1 iteration"):
        hs.invert(G, targets, ws, n_iters=0)


def test_round_trip_with_decoder_and_generator_fit(G: Generator, hs: HyperStyle, tmp_path) -> None:
    path = save_hyperstyle(hs, tmp_path / "hs.pt", decoder=G)
    ckpt = torch.load(str(path), weights_only=True)
    assert any(k.startswith("hypernet.refinement_blocks.") for k in ckpt["state_dict"])
    assert any(k.startswith("decoder.convs.") for k in ckpt["state_dict"])
    assert ckpt["opts"]["encoder_type"] == "SharedWeightsHyperNetResNet" and ckpt["opts"]["output_size"] == 32
    loaded, info = load_hyperstyle(path)
    assert info.generator is not None and info.layout == "gani-bench"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        a, b = hs.offsets(x, x.flip(0)), loaded.offsets(x, x.flip(0))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with torch.no_grad():
        img_g = G.synthesis(G.mapping(torch.randn(1, 16), None), noise_mode="const")
    assert img_g.shape[-1] == info.generator.img_resolution
    # the hypernetwork alone
    alone = save_hyperstyle(hs, tmp_path / "alone.pt")
    model, info2 = load_hyperstyle(alone)
    assert info2.generator is None and model.layer_names == default_layer_names(hs.config.n_outputs)
    # a generator of other widths is refused in one line naming both
    other = _tiny(channel_max=8)
    with pytest.raises(ConfigError, match=r"^HyperStyle 'alone.pt' does not fit generator 'the given generator': layer 0 \(synthesis.b4.conv1.weight\) is \(kernel, in, out\) = \(3, 8, 8\) in the generator but \(3, 16, 16\) in the hypernetwork"):
        load_hyperstyle(alone, generator=other)
    # same shapes, different weights than the file's decoder
    with pytest.raises(ConfigError, match=r"^HyperStyle 'hs.pt' was trained with a different generator than 'the given generator'"):
        load_hyperstyle(path, generator=_tiny(seed=9))


def test_load_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown HyperStyle 'nope'; give a file path or one of: .*embedded-64-hyperstyle.*hyperstyle-ffhq"):
        load_hyperstyle("nope")
    enc = tmp_path / "enc.pt"
    torch.save({"state_dict": {"encoder.x": torch.zeros(1)}, "opts": {}}, str(enc))
    with pytest.raises(CheckpointError, match="no 'hypernet.\\*' tensors"):
        load_hyperstyle(enc)
    odd = tmp_path / "odd.pt"
    torch.save({"state_dict": {"hypernet.conv1.weight": torch.zeros(1)}, "opts": {"encoder_type": "HyperNet"}}, str(odd))
    with pytest.raises(CheckpointError, match="opts\\['encoder_type'\\] = 'HyperNet'"):
        load_hyperstyle(odd)
