"""ID similarity: alignment geometry, the IR backbones' published key layout, the embedding
pipeline, and a real identity test with dlib's offline face-recognition model."""
from __future__ import annotations

import io
import math
from typing import List

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import gani_bench.weights as weights_mod
from gani_bench.errors import CheckpointError, WeightsUnavailable
from gani_bench.metrics.face import backends
from gani_bench.metrics.face.align import ARCFACE_TEMPLATE_112, similarity_transform, warp_affine
from gani_bench.metrics.face.ir_resnet import (
    ARCFACE_IR_SE50,
    CURRICULARFACE_IR101,
    IRBackbone,
    load_ir_state_dict,
)
from gani_bench.metrics.id_similarity import (
    IDSimilarityArcFace,
    IDSimilarityCurricularFace,
    IDSimilarityDlib,
    cosine_rows,
)

skimage_data = pytest.importorskip("skimage.data")


def _to_tensor(arr: np.ndarray, size: int = 256) -> torch.Tensor:
    """uint8/float HxW(x3) -> [1, 3, size, size] in [-1, 1] (gray becomes RGB)."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    x = torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None].float() / 127.5 - 1
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    arr = ((x[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return _to_tensor(np.asarray(Image.open(buf).convert("RGB")), x.shape[-1])


def _colour_jitter(x: torch.Tensor) -> torch.Tensor:
    gray = x.mean(dim=1, keepdim=True)
    return (0.75 * x + 0.25 * gray) * 1.1 + 0.06  # less saturation, more contrast, brighter


def _astronaut_variants() -> torch.Tensor:
    ast = skimage_data.astronaut()
    base = _to_tensor(ast)
    crop = _to_tensor(ast[24:500, 10:486])
    return torch.cat([base, crop, _colour_jitter(base).clamp(-1, 1), _jpeg(base, 30)])


# --------------------------------------------------------------------------------------------
# alignment geometry


def test_similarity_transform_recovers_a_known_transform():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    src = np.random.default_rng(0).uniform(0, 100, size=(5, 2))
    dst = src @ (scale * rot).T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)
    # a reflection is not a similarity: the fit must stay a proper rotation
    mirrored = similarity_transform(src, src * np.array([-1.0, 1.0]))
    assert np.linalg.det(mirrored[:, :2]) > 0


def test_warp_affine_samples_the_inverse_map_exactly_for_linear_images():
    h, w = 40, 50
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    image = torch.stack([xs / w - 0.5, ys / h - 0.5, (xs + ys) / (w + h) - 0.5])  # linear in x, y
    m = similarity_transform(np.array([[10.0, 10.0], [30.0, 12.0], [20.0, 30.0]]), np.array([[2.0, 3.0], [22.0, 5.0], [12.0, 23.0]]))
    out = warp_affine(image, m, 24)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    for qx, qy in [(0, 0), (5, 7), (20, 18)]:
        px, py, _ = inv @ np.array([qx, qy, 1.0])
        expected = torch.tensor([px / w - 0.5, py / h - 0.5, (px + py) / (w + h) - 0.5], dtype=torch.float32)
        torch.testing.assert_close(out[:, qy, qx], expected, atol=1e-4, rtol=0)
    # outside the source image the crop is black (-1), as cv2.warpAffine's default border
    far = warp_affine(image, np.array([[1.0, 0.0, 500.0], [0.0, 1.0, 500.0]]), 8)
    assert torch.all(far == -1)


def test_template_is_the_arcface_112_layout():
    t = ARCFACE_TEMPLATE_112
    assert t.shape == (5, 2)
    assert t[0, 0] < t[1, 0] and t[3, 0] < t[4, 0]  # left eye/mouth left of right ones
    assert t[:2, 1].max() < t[2, 1] < t[3:, 1].min()  # eyes above nose above mouth
    assert abs((t[0, 0] + t[1, 0]) / 2 - 56) < 1.0  # horizontally centred in 112 px


# --------------------------------------------------------------------------------------------
# IR backbones: key layout of the published checkpoints


_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _published_keys(stages: List[tuple], se: bool, affine_output: bool) -> List[str]:
    """Parameter names the reference ``model_irse.Backbone`` produces (TreB1eN / e4e /
    CurricularFace): input_layer (conv, bn, prelu); body units (shortcut conv+bn only when the
    width changes; res_layer bn, conv, prelu, conv, bn[, se fc1/fc2]); output_layer (bn2d,
    dropout, flatten, linear, bn1d)."""
    keys = ["input_layer.0.weight", *(f"input_layer.1.{k}" for k in _BN), "input_layer.2.weight"]
    i, in_ch = 0, 64
    for depth, units in stages:
        for u in range(units):
            p = f"body.{i}"
            if u == 0 and in_ch != depth:
                keys += [f"{p}.shortcut_layer.0.weight", *(f"{p}.shortcut_layer.1.{k}" for k in _BN)]
            keys += [*(f"{p}.res_layer.0.{k}" for k in _BN), f"{p}.res_layer.1.weight", f"{p}.res_layer.2.weight",
                     f"{p}.res_layer.3.weight", *(f"{p}.res_layer.4.{k}" for k in _BN)]
            if se:
                keys += [f"{p}.res_layer.5.fc1.weight", f"{p}.res_layer.5.fc2.weight"]
            i, in_ch = i + 1, depth
    keys += [*(f"output_layer.0.{k}" for k in _BN), "output_layer.3.weight", "output_layer.3.bias"]
    keys += [f"output_layer.4.{k}" for k in (_BN if affine_output else _BN[2:])]
    return keys


@pytest.mark.parametrize(
    "config, stages, n_keys",
    [
        (ARCFACE_IR_SE50, [(64, 3), (128, 4), (256, 14), (512, 3)], 397),
        (CURRICULARFACE_IR101, [(64, 3), (128, 13), (256, 30), (512, 3)], 672),
    ],
    ids=["arcface-ir-se50", "curricularface-ir101"],
)
def test_ir_key_layout_and_weights_only_round_trip(config, stages, n_keys, tmp_path):
    model = IRBackbone(config).eval()
    state = model.state_dict()
    expected = _published_keys(stages, config.se, config.affine_output)
    assert len(expected) == n_keys
    assert list(state) == expected  # same names, same order as the reference modules
    assert state["input_layer.0.weight"].shape == (64, 3, 3, 3)
    assert state["output_layer.3.weight"].shape == (512, 512 * 7 * 7)
    if config.se:
        assert state["body.0.res_layer.5.fc1.weight"].shape == (4, 64, 1, 1)
    # test-constructed weights (random init, not the published values): torch.save then a
    # weights-only load into a fresh network reproduces the embeddings exactly
    path = tmp_path / "ir.pth"
    torch.save(state, path)
    loaded = load_ir_state_dict(IRBackbone(config), torch.load(path, weights_only=True), str(path))
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)
        assert torch.allclose(loaded(x).norm(dim=1), torch.ones(2))


def test_ir_loader_tolerates_old_bn_counters_but_not_other_mismatches():
    model = IRBackbone(ARCFACE_IR_SE50)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    load_ir_state_dict(IRBackbone(ARCFACE_IR_SE50), {"module." + k: v for k, v in state.items()}, "old.pth")
    with pytest.raises(CheckpointError, match=r"^model_ir101\.pth: does not fit the IR-100 backbone"):
        load_ir_state_dict(IRBackbone(CURRICULARFACE_IR101), state, "model_ir101.pth")
    bad = dict(state)
    bad["input_layer.0.weight"] = torch.zeros(64, 3, 5, 5)
    with pytest.raises(CheckpointError, match="tensor shapes do not fit"):
        load_ir_state_dict(IRBackbone(ARCFACE_IR_SE50), bad, "bad.pth")


# --------------------------------------------------------------------------------------------
# metric plumbing


def test_cosine_rows_marks_missing_faces():
    a = torch.tensor([[1.0, 0.0], [float("nan")] * 2, [0.0, 2.0]])
    b = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, -1.0]])
    got = cosine_rows(a, b)
    assert got[0].item() == pytest.approx(1 / math.sqrt(2))
    assert math.isnan(got[1].item())
    assert got[2].item() == pytest.approx(-1.0)


def test_missing_identity_weights_are_reported_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("GANI_BENCH_HOME", str(tmp_path / "empty_home"))
    monkeypatch.setattr(backends, "_embedders", {})

    def offline(name: str, **kwargs):
        raise WeightsUnavailable(f"{name} weights are not in the cache; run: gani-bench weights download {name}")

    monkeypatch.setattr(weights_mod, "fetch", offline)
    metric = IDSimilarityCurricularFace()
    assert "gani-bench weights download curricularface-ir101" in metric.unavailable_reason()
    with pytest.raises(WeightsUnavailable, match="curricularface-ir101"):
        metric.compute(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))


def test_pipeline_with_test_constructed_arcface_weights(tmp_path, monkeypatch):
    """MTCNN -> alignment -> IR-SE50 -> cosine, with random (test-constructed) weights loaded
    through the weight registry's contract: identical inputs give 1, a face-free image NaN."""
    torch.manual_seed(0)
    path = tmp_path / "model_ir_se50_test_constructed.pth"
    torch.save(IRBackbone(ARCFACE_IR_SE50).state_dict(), path)

    def fake_fetch(name: str, **kwargs):
        assert name == "arcface-ir-se50"
        return weights_mod.LocalWeights(path=path, format="torch-state-dict", spec=weights_mod.WEIGHTS.get(name), source=None)

    monkeypatch.setattr(weights_mod, "fetch", fake_fetch)
    monkeypatch.setattr(backends, "_embedders", {})
    ast = _astronaut_variants()[:1]
    flat = torch.zeros(1, 3, 256, 256)
    sim = IDSimilarityArcFace().compute(torch.cat([ast, flat]), torch.cat([ast, ast]))
    assert sim[0].item() == pytest.approx(1.0, abs=1e-5)
    assert math.isnan(sim[1].item())


# --------------------------------------------------------------------------------------------
# real identity test: dlib's face-recognition ResNet (offline weights from face_recognition_models)


@pytest.fixture
def dlib_metric():
    pytest.importorskip("dlib")
    metric = IDSimilarityDlib()
    reason = metric.unavailable_reason()
    if reason is not None:
        pytest.skip(f"dlib face-recognition weights are not available here: {reason}")
    return metric


def test_mtcnn_finds_the_astronaut_face():
    det = backends.get_detector("cpu").detect(_astronaut_variants()[:1])[0]
    assert det is not None and det.probability > 0.9
    # Eileen Collins' face lies in the upper middle of the 512 px photo (x 175-270, y 55-185)
    x0, y0, x1, y1 = det.box * 2
    assert 150 < x0 < x1 < 290 and 40 < y0 < y1 < 200
    left_eye, right_eye = det.landmarks[0], det.landmarks[1]
    assert left_eye[0] < right_eye[0]


def test_dlib_same_person_scores_above_different_people(dlib_metric):
    variants = _astronaut_variants()
    same = dlib_metric.compute(variants[1:], variants[:1].expand(3, -1, -1, -1))
    lfw = skimage_data.lfw_subset()[:12]  # the first 100 of 200 are faces (25x25 gray, LFW)
    others = torch.cat([_to_tensor(face) for face in lfw])
    different = dlib_metric.compute(others, variants[:1].expand(len(others), -1, -1, -1))
    found = different[~torch.isnan(different)]
    assert not torch.isnan(same).any()
    assert len(found) >= 8, f"MTCNN found only {len(found)} of 12 upscaled LFW faces"
    assert same.min().item() > found.max().item() + 0.05
    assert same.mean().item() > 0.95  # robust to crop, colour jitter and JPEG q=30


def test_face_free_images_are_skipped_and_counted(dlib_metric):
    ast = _astronaut_variants()[:1]
    camera_background = _to_tensor(skimage_data.camera()[330:512, 0:182])  # grass, no person
    flat = torch.zeros(1, 3, 256, 256)
    pred = torch.cat([ast, camera_background, flat, ast])
    target = torch.cat([ast, ast, ast, flat])  # last: face in pred, none in target
    sim = dlib_metric.compute(pred, target)
    assert sim[0].item() == pytest.approx(1.0, abs=1e-5)
    assert torch.isnan(sim[1:]).all()
    assert int(torch.isnan(sim).sum()) == 3


def test_dlib_different_people_in_shared_faces(dlib_metric, shared_data):
    """Each of 10 different people (idinvert examples) is closest to its own JPEG/jittered copy."""
    paths = sorted((shared_data / "faces").glob("*.png"))[:10]
    if len(paths) < 10:
        pytest.skip(f"{shared_data / 'faces'} holds {len(paths)} images, need 10")
    faces = torch.cat([_to_tensor(np.asarray(Image.open(p).convert("RGB"))) for p in paths])
    copies = torch.cat([_jpeg(_colour_jitter(f[None]).clamp(-1, 1), 40) for f in faces])
    embedder = backends.get_embedder("dlib", "cpu")
    a, b = embedder.embed(faces), embedder.embed(copies)
    ok = ~(torch.isnan(a).any(1) | torch.isnan(b).any(1))
    assert int(ok.sum()) >= 8, f"faces found in only {int(ok.sum())} of 10 pairs"
    a, b = F.normalize(a[ok], dim=1), F.normalize(b[ok], dim=1)
    sim = a @ b.T  # [i, j]: person i vs copy of person j
    assert torch.equal(sim.argmax(dim=1), torch.arange(len(sim)))
    off_diagonal = sim[~torch.eye(len(sim), dtype=torch.bool)]
    assert sim.diagonal().min().item() > off_diagonal.max().item()


def test_id_metric_flags_where_the_face_was_missing(monkeypatch):
    """No face in a reconstruction vs in a target: two flag columns beside the NaN similarity."""
    from gani_bench.metrics import id_similarity as mod

    class Embedder:  # "no face" = an all-zero image, else the mean colour as the embedding
        def embed(self, images):
            emb = images.mean(dim=(2, 3))
            return torch.where((images.abs().amax(dim=(1, 2, 3)) == 0)[:, None], torch.full_like(emb, float("nan")), emb)

    monkeypatch.setattr(mod, "get_embedder", lambda backend, device: Embedder())
    metric = mod.IDSimilarityDlib.__new__(mod.IDSimilarityDlib)
    metric.device = torch.device("cpu")
    face = torch.full((1, 3, 8, 8), 0.5)
    none = torch.zeros(1, 3, 8, 8)
    pred = torch.cat([face, none, none])
    target = torch.cat([face, face, none])
    cols = metric.compute_columns(pred, target)
    assert cols["id_similarity_dlib"][0].item() == pytest.approx(1.0) and cols["id_similarity_dlib"][1:].isnan().all()
    assert cols["id_similarity_dlib/no_face_target"].tolist() == [0.0, 0.0, 1.0]
    assert cols["id_similarity_dlib/no_face_reconstruction"].tolist() == [0.0, 1.0, 1.0]
    assert torch.equal(metric.compute(pred, target).isnan(), cols["id_similarity_dlib"].isnan())
