"""load_hyperstyle on a file in the authors' layout gives the authors' offsets (1e-4 relative).

Reference: the authors' ``SharedWeightsHyperNetResNet`` (yuval-alaluf/hyperstyle, 1024 px
layout, default ``layers_to_tune``) run in a scratch folder outside this repository on the
seeded weights of ``hyperstyle_reference.seeded_state`` (their ``.cuda()`` calls and ResNet34
download patched out there). Committed: the key order of their state dict and fingerprints of
their offsets (``tests/data/hyperstyle_ref``). The file this test writes is the authors' layout:
``hypernet.*`` with the shared hypernet under every key that holds it, ``opts``, no decoder.
"""
from __future__ import annotations

import json

import pytest
import torch

from gani_bench.errors import CheckpointError
from gani_bench.hyperstyle import load_hyperstyle
from gani_bench.hyperstyle.config import AUTHORS_LAYERS_TO_TUNE
from hyperstyle_reference import compare, seeded_input, seeded_state

OPTS = {"encoder_type": "SharedWeightsHyperNetResNet", "output_size": 1024, "input_nc": 6,
        "layers_to_tune": "0,2,3,5,6,8,9,11,12,14,15,17,18,20,21,23,24", "n_iters_per_batch": 5}


@pytest.fixture(scope="module")
def authors_file(tmp_path_factory: pytest.TempPathFactory, test_data):
    ref = test_data / "hyperstyle_ref"
    keys = json.loads((ref / "keys.json").read_text())["keys"]
    state = {f"hypernet.{k}": v for k, v in seeded_state(keys).items()}
    path = tmp_path_factory.mktemp("hs") / "hyperstyle_authors_layout.pt"
    torch.save({"state_dict": state, "opts": OPTS, "latent_avg": torch.zeros(18, 512)}, str(path))
    return path, keys, json.loads((ref / "offsets.json").read_text())["offsets"]


@pytest.fixture(scope="module")
def loaded(authors_file):
    return load_hyperstyle(authors_file[0])


def test_names_match_the_authors(authors_file, loaded) -> None:
    _, keys, _ = authors_file
    hs, info = loaded
    ours = [(k, list(v.shape)) for k, v in hs.hypernet.state_dict().items()]
    assert ours == [(k, s) for k, s in keys]
    assert info.generator is None and info.layout == "authors"
    assert hs.config.layers_to_tune == AUTHORS_LAYERS_TO_TUNE
    assert hs.layer_names[0] == "synthesis.b4.conv1.weight" and hs.layer_names[24] == "synthesis.b1024.conv1.weight"


def test_offsets_match_the_authors(authors_file, loaded) -> None:
    _, _, ref = authors_file
    hs, _ = loaded
    x = seeded_input()
    with torch.no_grad():
        offsets = hs.offsets(x[:, :3], x[:, 3:])
    assert set(offsets) == {hs.layer_names[int(i)] for i in ref}
    problems = {i: compare(offsets[hs.layer_names[int(i)]], fp) for i, fp in ref.items()}
    assert not any(problems.values()), {i: p for i, p in problems.items() if p}


def test_refuses_differing_shared_copies(tmp_path) -> None:
    from gani_bench.hyperstyle import HyperStyle, config_for_generator, save_hyperstyle
    from gani_bench.stylegan2 import Generator

    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, mapping_kwargs={"num_layers": 2},
                  synthesis_kwargs={"channel_base": 256, "channel_max": 16})
    hs = HyperStyle(config_for_generator(G, width=8, code_channels=8))
    path = save_hyperstyle(hs, tmp_path / "small.pt")
    ckpt = torch.load(str(path), weights_only=True)
    assert torch.equal(ckpt["state_dict"]["hypernet.refinement_blocks.3.hypernet.b1"], ckpt["state_dict"]["hypernet.shared_weight_hypernet.b1"])
    sd = dict(ckpt["state_dict"])
    sd["hypernet.refinement_blocks.3.hypernet.b1"] = sd["hypernet.shared_weight_hypernet.b1"] + 1
    bad = tmp_path / "bad.pt"
    torch.save({**ckpt, "state_dict": sd}, str(bad))
    with pytest.raises(CheckpointError, match=r"^bad.pt: the shared hypernet's copies differ \(refinement_blocks.3.hypernet.b1"):
        load_hyperstyle(bad)
