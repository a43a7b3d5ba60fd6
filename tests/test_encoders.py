"""Encoder loading, errors, decoder conversion, ReStyle iterations and the demo encoders."""
from __future__ import annotations

import copy

import pytest
import torch

from gani_bench.checkpoints.rosinality import to_rosinality
from gani_bench.encoders import (DEMO_ENCODERS, InversionEncoder, check_encoder_generator, load_encoder,
                                 save_encoder, small_config)
from gani_bench.encoders.evaluate import heldout_reconstruction
from gani_bench.encoders.model import pool_to
from gani_bench.errors import CheckpointError, ConfigError
from gani_bench.stylegan2.embedded import build_embedded_generator


@pytest.fixture(scope="module")
def G():
    return build_embedded_generator(seed=0)


def _small(kind, G, seed=0):
    torch.manual_seed(seed)
    return InversionEncoder(small_config(kind, int(G.num_ws), int(G.w_dim)), G.mapping.w_avg).eval()


def test_roundtrip_with_decoder_returns_the_generator(tmp_path, G):
    enc = _small("e4e", G)
    path = save_encoder(enc, tmp_path / "e4e.pt", decoder=G)
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt) >= {"state_dict", "opts", "latent_avg"}
    assert {k.split(".")[0] for k in ckpt["state_dict"]} == {"encoder", "decoder"}
    assert set(k[len("decoder."):] for k in ckpt["state_dict"] if k.startswith("decoder.")) == set(to_rosinality(G)["g_ema"])
    loaded, info = load_encoder(path)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(loaded.encode(x), enc.encode(x), atol=1e-6)
        ws = loaded.encode(x)
        assert (info.generator.synthesis(ws, noise_mode="const") - G.synthesis(ws, noise_mode="const")).abs().max() < 1e-4
    assert (info.kind, info.num_ws, info.w_dim, info.input_size) == ("e4e", 10, 128, 64)
    check_encoder_generator(info, G, "embedded-64")  # its own decoder: accepted
    other = copy.deepcopy(G)
    with torch.no_grad():
        other.synthesis.b8.conv0.weight.add_(0.01)
    with pytest.raises(ConfigError, match=r"trained with a different generator than 'other' \(its decoder differs at synthesis.b8.conv0.weight\)"):
        check_encoder_generator(info, other, "other")


def test_any_input_size_is_resized(G):
    enc = _small("psp", G)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    big = torch.nn.functional.interpolate(x, size=(128, 128), mode="nearest")
    with torch.no_grad():
        a, b = enc.encode(x), enc.encode(big)
    assert a.shape == b.shape == (1, 10, 128)
    assert (a - b).abs().max() < 0.05 * a.abs().max()  # nearest x2 then antialiased /2 ~ the same image


def test_generator_shape_mismatch_is_one_line(G):
    enc = InversionEncoder(small_config("w_encoder", 18, 512))
    from gani_bench.encoders import EncoderInfo

    info = EncoderInfo("w_encoder", 18, 512, 64, enc.latent_avg, source="ffhq-w")
    with pytest.raises(ConfigError, match=r"^encoder 'ffhq-w' writes 18 x 512 latents but generator 'embedded-64' takes 10 x 128; "):
        check_encoder_generator(info, G, "embedded-64")


def test_wrong_stylegan_size_names_the_fix(tmp_path):
    full = InversionEncoder(small_config("e4e", 18, 512))  # 18 style blocks, as a 1024 px file
    state = {f"encoder.{k}": v for k, v in full.encoder.state_dict().items()}
    torch.save({"state_dict": state, "opts": {"encoder_type": "Encoder4Editing", "stylegan_size": 512},
                "latent_avg": torch.zeros(512)}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=r"has 18 style blocks \(styles.0-17\) but opts\['stylegan_size'\] = 512 gives 16.*"
                                              r"set opts\['stylegan_size'\] = 1024"):
        load_encoder(tmp_path / "x.pt")


def test_missing_keys_and_unknown_type_are_one_line(tmp_path, G):
    enc = InversionEncoder(small_config("w_encoder", 18, 512))
    state = {f"encoder.{k}": v for k, v in enc.encoder.state_dict().items() if not k.startswith("linear")}
    opts = {"encoder_type": "WEncoder", "output_size": 1024, "gani_bench_config": enc.config.as_dict()}
    torch.save({"state_dict": state, "opts": opts, "latent_avg": torch.zeros(1, 512)}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"^m.pt: missing 2 encoder tensor\(s\) .*linear.bias.*truncated"):
        load_encoder(tmp_path / "m.pt")
    torch.save({"state_dict": state, "opts": {"encoder_type": "ResNetBackboneEncoder"}}, tmp_path / "r.pt")
    with pytest.raises(CheckpointError, match=r"'ResNetBackboneEncoder' is not an encoder gani-bench implements"):
        load_encoder(tmp_path / "r.pt")


def test_untrusted_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "opts": Evil()}, path, pickle_protocol=2)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_encoder(path)


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown encoder 'nope'; .*embedded-64-e4e"):
        load_encoder("nope")


def test_restyle_iterations_follow_the_authors_loop(G):
    enc = _small("restyle_e4e", G)
    x = G.synthesis(G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3)), None), noise_mode="const")
    with torch.no_grad():
        out, history = enc.encode(x, generator=G, n_iters=3, return_all=True)
        # by hand: iteration 0 reads the latent_avg image, later ones the previous reconstruction
        avg_img = pool_to(G.synthesis(enc.latent_avg[None], noise_mode="const"), 64).expand(2, -1, -1, -1)
        lat = enc.latent_avg + enc.encoder(torch.cat([x, avg_img], 1))
        for _ in range(2):
            lat = lat + enc.encoder(torch.cat([x, G.synthesis(lat, noise_mode="const")], 1))
    assert len(history) == 3 and torch.allclose(out, lat, atol=1e-5)
    with pytest.raises(ConfigError, match="pass generator="):
        enc.encode(x)


@pytest.mark.parametrize("name", DEMO_ENCODERS.names())
def test_demo_encoders_beat_latent_avg(name):
    enc, info = load_encoder(name)
    assert info.generator is not None and info.generator_info.name == "embedded-64"
    score = heldout_reconstruction(enc, info.generator, count=16)
    assert score.encoder_mse < 0.8 * score.latent_avg_mse, score


def test_a_shipped_model_file_missing_from_the_install_is_one_line_with_the_fix():
    """A wheel built without its package data loses the demo models; the message says how to get them back."""
    from gani_bench.errors import WeightsUnavailable
    from gani_bench.shipped import shipped_file

    with pytest.raises(WeightsUnavailable) as exc:
        with shipped_file("gani_bench.encoders", "nosuch.pt", what="demo encoder 'x'", command="gani-bench train e4e ..."):
            pass
    assert str(exc.value) == ("demo encoder 'x': its file demo/nosuch.pt is missing from the installed package; "
                              "reinstall gani-bench or recreate it with `gani-bench train e4e ...`")
