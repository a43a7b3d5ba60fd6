"""Our encoders, loaded from files in the authors' layout, give the authors' latents (1e-4).

The references in tests/data/encoders were produced by running the authors' own classes
(pixel2style2pixel ``GradualStyleEncoder``, encoder4editing ``Encoder4Editing``, restyle-encoder
``BackboneEncoder`` / ``ProgressiveBackboneEncoder``, hyperstyle ``WEncoder``) at the 1024 px
layout (18 styles, IR-SE50, 256 px input) on the seeded weights of ``encoder_reference.py``,
adding ``latent_avg`` as their ``pSp.forward`` does. The key lists (names and shapes) come from
their ``state_dict()``. ReStyle is checked on one pass with the 6-channel input (their iteration
0 = encoder output + latent_avg); the iteration loop itself is tested in test_encoders.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from encoder_reference import build_state, seeded_input, seeded_latent_avg
from gani_bench.encoders import load_encoder

DATA = Path(__file__).parent / "data" / "encoders"

CASES = {
    # kind: (encoder_type, size key, input channels, latent_avg rows, reference file)
    "psp": ("GradualStyleEncoder", "output_size", 3, 18, "psp"),
    "e4e": ("Encoder4Editing", "stylegan_size", 3, 18, "e4e"),
    "restyle_psp": ("BackboneEncoder", "output_size", 6, 18, "restyle_psp"),
    "restyle_e4e": ("ProgressiveBackboneEncoder", "output_size", 6, 18, "restyle_e4e"),
    "w_encoder": ("WEncoder", "output_size", 3, 1, "w_encoder"),
}


def _keys(kind: str):
    return [(k, tuple(s)) for k, s in json.loads((DATA / f"{kind}_keys.json").read_text())]


def _write_authors_file(tmp_path: Path, kind: str, **opt_changes) -> Path:
    encoder_type, size_key, nc, rows, _ = CASES[kind]
    state = {f"encoder.{k}": v for k, v in build_state(_keys(kind)).items()}
    opts = {"encoder_type": encoder_type, size_key: 1024, "input_nc": nc, "start_from_latent_avg": True,
            "lpips_lambda": 0.8, "exp_dir": "experiment", "n_iters_per_batch": 5}
    opts.update(opt_changes)
    path = tmp_path / f"{kind}.pt"
    torch.save({"state_dict": state, "opts": opts, "latent_avg": seeded_latent_avg(rows)}, str(path))
    return path


@pytest.mark.parametrize("kind", list(CASES))
def test_matches_authors_latents(tmp_path, kind):
    path = _write_authors_file(tmp_path, kind)
    enc, info = load_encoder(path)
    path.unlink()
    assert (info.kind, info.num_ws, info.w_dim, info.input_size, info.generator) == (kind, 18, 512, 256, None)
    # same parameter names and shapes as the authors' class (their state_dict() key list)
    assert {k: tuple(v.shape) for k, v in enc.encoder.state_dict().items()} == dict(_keys(kind))
    x = seeded_input(1, CASES[kind][2])
    expected = torch.load(DATA / f"{CASES[kind][4]}_latents.pt", weights_only=True)["latents"]
    with torch.no_grad():
        if enc.iterative:  # one ReStyle pass on the 6-channel input: their iteration 0
            got = enc.encoder(x) + enc.base(1)
        else:
            got = enc.encode(x)
    assert got.shape == (1, 18, 512)
    assert (got - expected).abs().max().item() < 1e-4


def test_e4e_progressive_stage_matches_authors(tmp_path):
    enc, _ = load_encoder(_write_authors_file(tmp_path, "e4e"))
    enc.set_progressive_stage(5)  # their ProgressiveStage.Delta5Training
    expected = torch.load(DATA / "e4e_stage2_latents.pt", weights_only=True)["latents"]
    with torch.no_grad():
        got = enc.encode(seeded_input(1, 3))
    assert (got - expected).abs().max().item() < 1e-4
    raw = got[0] - enc.latent_avg  # slots past the stage carry w0 only
    assert torch.allclose(raw[6:], raw[:1].expand(12, -1), atol=1e-6)
    assert not torch.allclose(raw[5], raw[0], atol=1e-3)
