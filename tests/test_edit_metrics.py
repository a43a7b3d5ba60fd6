"""Edit-fidelity metrics (edit consistency, ID after edit, locality, LEC) on the embedded generator."""
from __future__ import annotations

import functools
import math
import warnings
from typing import Dict, List

import pytest
import torch

from gani_bench.edits import InterFaceGANEdit, edits_for_generator
from gani_bench.metrics.base import METRICS, EditContext, resize_for_eval
from gani_bench.metrics.edit_fidelity import (
    LOCALITY_ALPHA,
    EditConsistencyLPIPS,
    EditConsistencyMSE,
    EditID,
    LocalityLPIPS,
    LocalityMSE,
    locality_latents,
    render,
)
from gani_bench.metrics.lec import LEC
from gani_bench.stylegan2.embedded import build_embedded_generator
from gani_bench.stylegan2.functional import tunable_parameter_names

N = 2


@pytest.fixture(scope="module")
def G():
    return build_embedded_generator(seed=0)


@pytest.fixture(scope="module")
def pivots(G) -> torch.Tensor:
    z = torch.randn(N, G.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return G.mapping(z, None)


@pytest.fixture(scope="module")
def edits(G):
    return edits_for_generator("embedded", G.w_dim, G.num_ws, names=["synthetic_direction_a+3", "synthetic_ganspace_c1"], generator=G)


def deltas(G, scale: float) -> List[Dict[str, torch.Tensor]]:
    """Per-image weight offsets of relative size ``scale`` (fixed random direction per image)."""
    names = set(tunable_parameter_names(G))
    out = []
    for i in range(N):
        g = torch.Generator().manual_seed(100 + i)
        out.append({n: scale * p.detach().std() * torch.randn(p.shape, generator=g) for n, p in G.named_parameters() if n in names})
    return out


def ctx_for(G, pivots, edits, weight_deltas, **kw) -> EditContext:
    return EditContext(generator=G, latents=pivots, weight_deltas=weight_deltas, targets=torch.zeros(N, 3, 64, 64), edits=edits, **kw)


@functools.lru_cache(maxsize=1)
def random_backbone_lpips():
    """LPIPS with the package's real linear heads on an untrained AlexNet: no download needed.
    Not a perceptual metric, but a fixed non-negative image distance, enough to test plumbing."""
    import lpips

    from gani_bench.metrics.lpips_metric import LPIPSDistance, lpips_heads_path

    torch.manual_seed(0)
    with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation notice, raised inside lpips
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=True, model_path=str(lpips_heads_path("alex")), net="alex", pnet_rand=True, verbose=False)
    return LPIPSDistance(model.eval().requires_grad_(False), "alex")


class RandomLPIPSConsistency(EditConsistencyLPIPS):
    def distance(self):
        return random_backbone_lpips()


class RandomLPIPSLocality(LocalityLPIPS):
    def distance(self):
        return random_backbone_lpips()


def test_metrics_are_registered_with_docs() -> None:
    for name in ("edit_consistency_mse", "edit_consistency_lpips", "edit_id", "edit_id_dlib", "locality_mse", "locality_lpips", "lec"):
        cls = METRICS.get(name)
        assert cls.kind == "edit" and cls.name == name and cls.__doc__ and cls.summary


def test_columns_and_exact_zero_without_tuning(G, pivots, edits) -> None:
    for weight_deltas in (None, deltas(G, 0.0)):  # None skips rendering; zero deltas render and still match bit for bit
        out = EditConsistencyMSE().compute_edit(ctx_for(G, pivots, edits, weight_deltas))
        assert set(out) == {f"edit_consistency_mse/{e}" for e in edits} | {"edit_consistency_mse/mean"}
        for values in out.values():
            assert values.shape == (N,) and torch.equal(values, torch.zeros(N))
        loc = LocalityMSE().compute_edit(ctx_for(G, pivots, edits, weight_deltas))
        assert set(loc) == {"locality_mse/interp", "locality_mse/random"}
        assert all(torch.equal(v, torch.zeros(N)) for v in loc.values())


def test_consistency_and_locality_grow_with_delta_size(G, pivots, edits) -> None:
    scales = (0.01, 0.03, 0.1)
    cons = [EditConsistencyMSE().compute_edit(ctx_for(G, pivots, edits, deltas(G, s)))["edit_consistency_mse/mean"] for s in scales]
    loc = [LocalityMSE().compute_edit(ctx_for(G, pivots, edits, deltas(G, s)))["locality_mse/interp"] for s in scales]
    for series in (cons, loc):
        assert bool((series[0] > 0).all())
        assert bool((series[1] > series[0]).all()) and bool((series[2] > series[1]).all())


def test_consistency_matches_a_direct_computation(G, pivots, edits) -> None:
    from gani_bench.stylegan2.functional import synthesize

    d = deltas(G, 0.05)
    out = EditConsistencyMSE().compute_edit(ctx_for(G, pivots, edits, d))
    edit = edits["synthetic_direction_a+3"]
    with torch.no_grad():
        for i in range(N):
            ws = edit(pivots[i : i + 1])
            # images are scored as saved: clipped to [-1, 1], then resized
            tuned = resize_for_eval(synthesize(G, ws, d[i]).clamp(-1, 1))
            orig = resize_for_eval(synthesize(G, ws).clamp(-1, 1))
            assert tuned.shape[-1] == 256  # compared at the evaluation resolution
            expected = (tuned - orig).pow(2).mean()
            assert torch.allclose(out["edit_consistency_mse/synthetic_direction_a+3"][i], expected, rtol=1e-5)
    mean = (out["edit_consistency_mse/synthetic_direction_a+3"] + out["edit_consistency_mse/synthetic_ganspace_c1"]) / 2
    assert torch.allclose(out["edit_consistency_mse/mean"], mean)


def test_lpips_variants_zero_then_growing(G, pivots, edits) -> None:
    assert RandomLPIPSConsistency().compute_edit(ctx_for(G, pivots, edits, deltas(G, 0.0)))["edit_consistency_lpips/mean"].abs().max() < 1e-6
    small = RandomLPIPSConsistency().compute_edit(ctx_for(G, pivots, edits, deltas(G, 0.02)))["edit_consistency_lpips/mean"]
    large = RandomLPIPSConsistency().compute_edit(ctx_for(G, pivots, edits, deltas(G, 0.2)))["edit_consistency_lpips/mean"]
    assert bool((small > 0).all()) and bool((large > small).all())
    loc = RandomLPIPSLocality().compute_edit(ctx_for(G, pivots, edits, deltas(G, 0.1)))
    assert set(loc) == {"locality_lpips/interp", "locality_lpips/random"} and bool((loc["locality_lpips/random"] > 0).all())


def test_missing_lpips_weights_leave_mse_variants_available() -> None:
    from gani_bench.weights import missing_weights_reason

    assert EditConsistencyMSE().unavailable_reason() is None and LocalityMSE().unavailable_reason() is None
    assert EditConsistencyLPIPS().unavailable_reason() == missing_weights_reason("lpips-alexnet")
    assert LocalityLPIPS().unavailable_reason() == missing_weights_reason("lpips-alexnet")


def test_locality_probes_follow_pti(G, pivots) -> None:
    ctx = ctx_for(G, pivots, {}, None, seed=3)
    probes = locality_latents(ctx, 1, num_samples=5)
    step = probes["interp"] - pivots[1:2]
    assert torch.allclose(step.flatten(1).norm(dim=1), torch.full((5,), LOCALITY_ALPHA), atol=1e-3)
    # w_p lies on the ray from the pivot towards w_r
    towards = probes["random"] - pivots[1:2]
    cos = torch.nn.functional.cosine_similarity(step.flatten(1), towards.flatten(1), dim=1)
    assert torch.allclose(cos, torch.ones(5), atol=1e-5)
    # truncation 0.5: w_r sits halfway between w_avg and the untruncated mapping
    z = torch.randn(5, G.z_dim, generator=torch.Generator().manual_seed(3))
    full = G.mapping(z, None).detach()
    assert torch.allclose(probes["random"], G.mapping.w_avg + 0.5 * (full - G.mapping.w_avg), atol=1e-5)
    assert torch.equal(locality_latents(ctx, 0, 5)["random"], probes["random"])  # same z for every image


class PixelCosineID:
    """Test double for an ID network: cosine of raw pixels (tests the edit_id plumbing only)."""

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cosine_similarity(pred.flatten(1), target.flatten(1), dim=1)


def test_edit_id_scores_edited_renders_against_targets(G, pivots, edits) -> None:
    metric = METRICS.get("edit_id_dlib")()
    assert isinstance(metric, EditID) and metric.id_metric.name == "id_similarity_dlib"
    metric.id_metric = PixelCosineID()
    targets = torch.randn(N, 3, 64, 64, generator=torch.Generator().manual_seed(1)).clamp(-1, 1)
    d = deltas(G, 0.05)
    ctx = EditContext(G, pivots, d, targets, edits)
    out = metric.compute_edit(ctx)
    edit = edits["synthetic_ganspace_c1"]
    edited = torch.cat([render(ctx, edit(pivots[i : i + 1]), d[i]) for i in range(N)])
    expected = PixelCosineID().compute(edited, resize_for_eval(targets))
    assert torch.allclose(out["edit_id_dlib/synthetic_ganspace_c1"], expected)
    assert "edit_id_dlib/mean" in out


def test_lec_without_encoder_is_unavailable_with_nan_columns(G, pivots, edits) -> None:
    ctx = ctx_for(G, pivots, edits, None)
    assert "needs an encoder" in LEC().unavailable_for(ctx)
    out = LEC().compute_edit(ctx)
    # only the InterFaceGAN-style edit is invertible; GANSpace edits are left out
    assert set(out) == {"lec/synthetic_direction_a+3", "lec/mean"}
    assert all(bool(torch.isnan(v).all()) for v in out.values())


def test_lec_is_zero_for_a_perfect_encoder_and_the_edit_size_for_a_blind_one(G, pivots) -> None:
    direction = torch.nn.functional.normalize(torch.randn(G.w_dim, generator=torch.Generator().manual_seed(2)), dim=0)
    edit = InterFaceGANEdit(direction, 3.0, name="d+3")
    edited_codes = edit(pivots)
    ctx = ctx_for(G, pivots, {"d+3": edit}, deltas(G, 0.02))
    renders = torch.cat([render(ctx, edited_codes[i : i + 1], ctx.weight_deltas[i]) for i in range(N)])

    def perfect(images: torch.Tensor) -> torch.Tensor:  # recognises each render it was shown
        idx = torch.cdist(images.flatten(1), renders.flatten(1)).argmin(dim=1)
        return edited_codes[idx]

    ctx.encoder = perfect
    out = LEC().compute_edit(ctx)
    assert out["lec/d+3"].abs().max() < 1e-3
    ctx.encoder = lambda images: pivots  # forgets the edit: LEC = |3 d| over num_ws layers
    out = LEC().compute_edit(ctx)
    assert torch.allclose(out["lec/d+3"], torch.full((N,), 3.0 * math.sqrt(G.num_ws)), atol=1e-4)
