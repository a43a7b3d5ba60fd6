"""Edit directions: loaders on the published files, edit arithmetic, named and synthetic edits."""
from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch

from gani_bench.edits import (
    EDIT_DOMAINS,
    GANSpaceEdit,
    GANSpacePCA,
    InterFaceGANEdit,
    edits_for_generator,
    load_ganspace_pca,
    load_interfacegan_direction,
    synthetic_edits,
    synthetic_pca,
)
from gani_bench.edits import registry as edit_registry
from gani_bench.errors import CheckpointError, UnknownNameError

#: weight-registry name -> file under ../shared/data/edits
SHARED_FILES = {
    "interfacegan-age": "interfacegan_directions/age.pt",
    "interfacegan-smile": "interfacegan_directions/smile.pt",
    "interfacegan-pose": "interfacegan_directions/pose.pt",
    "ganspace-ffhq-pca": "ganspace_pca/ffhq_pca.pt",
    "ganspace-cars-pca": "ganspace_pca/cars_pca.pt",
}


@pytest.fixture
def shared_weights(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Serve the edit files from ../shared/data instead of the weight cache (no download)."""
    import gani_bench.weights

    def fetch(name: str, **_: object) -> types.SimpleNamespace:
        return types.SimpleNamespace(path=shared_data / "edits" / SHARED_FILES[name], format="pt")

    monkeypatch.setattr(gani_bench.weights, "fetch", fetch)
    edit_registry._cached_direction.cache_clear()
    edit_registry._cached_pca.cache_clear()
    return shared_data


def _latents(n: int = 3, num_ws: int = 18, w_dim: int = 512, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, num_ws, w_dim, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# Loaders on the real files


def test_interfacegan_files_load_with_published_shapes(shared_data: Path) -> None:
    root = shared_data / "edits" / "interfacegan_directions"
    for attr in ("age", "smile", "rotation"):
        d = load_interfacegan_direction(root / f"{attr}.pt")
        assert d.shape == (512,) and d.dtype == torch.float32
        assert torch.isclose(d.norm(), torch.tensor(1.0), atol=1e-4)  # InterFaceGAN boundaries are unit normals
    pose = load_interfacegan_direction(root / "pose.pt")
    assert pose.shape == (18, 512)


def test_ganspace_files_load(shared_data: Path) -> None:
    for domain in ("ffhq", "cars"):
        pca = load_ganspace_pca(shared_data / "edits" / "ganspace_pca" / f"{domain}_pca.pt")
        assert (pca.w_dim, pca.num_components) == (512, 80)
        assert pca.std.shape == (80,) and bool((pca.std > 0).all())
        assert torch.allclose(pca.comp.norm(dim=1), torch.ones(80), atol=1e-4)


def test_bad_files_give_one_line_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "age.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="age.pt") as err:
        load_interfacegan_direction(garbage)
    assert "\n" not in str(err.value)
    wrong = tmp_path / "pca.pt"
    torch.save({"mean": torch.zeros(1, 512)}, wrong)
    with pytest.raises(CheckpointError, match=r"pca\.pt must be a dict with keys mean, comp, std"):
        load_ganspace_pca(wrong)
    cube = tmp_path / "cube.pt"
    torch.save(torch.zeros(2, 3, 4, 5), cube)
    with pytest.raises(CheckpointError, match=r"shape \[2, 3, 4, 5\]"):
        load_interfacegan_direction(cube)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_interfacegan_direction(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------------
# Edit arithmetic


def test_interfacegan_edit_is_exact_arithmetic() -> None:
    w = _latents()
    d = torch.randn(512)
    out = InterFaceGANEdit(d, 3.0)(w)
    assert torch.equal(out, w + 3.0 * d[None, None, :])
    per_layer = torch.randn(18, 512)
    out = InterFaceGANEdit(per_layer, -2.0)(w)
    assert torch.equal(out, w - 2.0 * per_layer[None])
    assert torch.equal(w, _latents())  # input untouched
    back = InterFaceGANEdit(per_layer, -2.0).inverse()(out)
    assert torch.allclose(back, w, atol=1e-5)


def test_per_layer_direction_must_match_num_ws() -> None:
    with pytest.raises(CheckpointError, match="18 style layers but the generator has num_ws 14"):
        InterFaceGANEdit(torch.randn(18, 512), 1.0, source="pose.pt")(_latents(num_ws=14))


def test_ganspace_edit_changes_only_its_layers_and_sets_the_coordinate() -> None:
    g = torch.Generator().manual_seed(3)
    comp, _ = torch.linalg.qr(torch.randn(512, 4, generator=g))
    pca = GANSpacePCA(mean=torch.randn(512, generator=g), comp=comp.T.contiguous(), std=torch.tensor([3.0, 2.0, 1.5, 1.0]))
    w = _latents()
    edit = GANSpaceEdit(pca, component=1, first_layer=0, last_layer=6, strength=-4.0)
    out = edit(w)
    assert torch.equal(out[:, 6:], w[:, 6:])
    assert not torch.allclose(out[:, :6], w[:, :6])
    # inside the range, the layer-0 coordinate along the component becomes exactly `strength`
    coord = ((out[:, 0] - pca.mean) @ pca.comp[1]) / pca.std[1]
    assert torch.allclose(coord, torch.full((3,), -4.0), atol=1e-3)
    # ... and only that coordinate moves: the other components keep theirs
    others = (out[:, 0] - w[:, 0]) @ pca.comp[[0, 2, 3]].T
    assert others.abs().max() < 1e-3
    assert edit.inverse() is None


def test_ganspace_layer_range_beyond_num_ws_is_refused() -> None:
    pca = synthetic_pca(64)
    with pytest.raises(ValueError, match=r"layer range \[7, 9\) exceeds the generator's num_ws 8"):
        GANSpaceEdit(pca, 0, 7, 9, 1.0)(_latents(num_ws=8, w_dim=64))


# ---------------------------------------------------------------------------------------------
# Named edits


def test_ffhq_registry_builds_the_published_edits(shared_weights: Path) -> None:
    edits = edits_for_generator("ffhq", w_dim=512, num_ws=18)
    assert set(edits) == set(EDIT_DOMAINS.get("ffhq"))
    w = _latents()
    age = load_interfacegan_direction(shared_weights / "edits" / SHARED_FILES["interfacegan-age"])
    assert torch.equal(edits["age-3"](w), w - 3.0 * age)
    smile = edits["ganspace_smile"](w)  # (46, 4, 5, -6): layer 4 only
    changed = (smile != w).flatten(2).any(dim=2).any(dim=0)
    assert changed.nonzero().flatten().tolist() == [4]
    beard = edits["ganspace_trimmed_beard"](w)  # (58, 7, 9, 7): layers 7 and 8
    assert (beard != w).flatten(2).any(dim=2).any(dim=0).nonzero().flatten().tolist() == [7, 8]


def test_generator_info_object_and_name_selection(shared_weights: Path) -> None:
    faces = edits_for_generator(types.SimpleNamespace(domain="faces"), w_dim=512, num_ws=18)  # generators.py's label
    assert set(faces) == set(EDIT_DOMAINS.get("ffhq"))
    info = types.SimpleNamespace(domain="cars")
    edits = edits_for_generator(info, w_dim=512, num_ws=16, names=["ganspace_cube"])
    assert list(edits) == ["ganspace_cube"]
    with pytest.raises(UnknownNameError, match="unknown edit 'smile' for domain ffhq; valid edits: age\\+3"):
        edits_for_generator("ffhq", 512, 18, names=["smile"])


def test_dimension_mismatch_names_file_and_both_dims(shared_weights: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        edits_for_generator("ffhq", w_dim=128, num_ws=10, names=["age+3"])
    msg = str(err.value)
    assert "age.pt" in msg and "w_dim 512" in msg and "w_dim 128" in msg and "\n" not in msg
    with pytest.raises(CheckpointError, match=r"pose\.pt needs 18 style layers but the generator has num_ws 14"):
        edits_for_generator("ffhq", w_dim=512, num_ws=14, names=["pose+3"])


def test_synthetic_edits_are_labelled_seeded_and_fit_the_generator() -> None:
    from gani_bench.stylegan2.embedded import build_embedded_generator

    G = build_embedded_generator(seed=0)
    a = edits_for_generator("embedded", G.w_dim, G.num_ws, generator=G, seed=5)
    b = edits_for_generator(None, G.w_dim, G.num_ws, generator=G, seed=5)
    assert a and all(name.startswith("synthetic_") for name in a)
    w = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0)), None).detach()
    for name in a:
        out = a[name](w)
        assert out.shape == w.shape and torch.equal(out, b[name](w))
        assert not torch.equal(out, w)
    other_seed = synthetic_edits(G.w_dim, G.num_ws, generator=G, seed=6)
    assert not torch.equal(a["synthetic_direction_a+3"](w), other_seed["synthetic_direction_a+3"](w))


def test_synthetic_pca_of_mapping_orders_components_by_variance() -> None:
    from gani_bench.stylegan2.embedded import build_embedded_generator

    G = build_embedded_generator(seed=0)
    pca = synthetic_pca(G.w_dim, G, seed=0)
    assert pca.w_dim == G.w_dim
    assert bool((pca.std[:-1] >= pca.std[1:]).all())
    assert torch.allclose(pca.comp @ pca.comp.T, torch.eye(pca.num_components), atol=1e-4)
    # the stds describe fresh mapped latents too (within the sampling error of 2,000 heavy-
    # tailed samples), and the top component stays the widest
    z = torch.randn(4000, G.z_dim, generator=torch.Generator().manual_seed(99))
    w = G.mapping(z, None)[:, 0].detach()
    spread = ((w - pca.mean) @ pca.comp.T).std(dim=0)
    assert bool(((spread / pca.std - 1.0).abs() < 0.25).all())
    assert spread[0] > spread[-1]
