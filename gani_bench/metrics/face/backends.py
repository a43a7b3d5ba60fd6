"""Identity-embedding backends for ID similarity, one registry entry each.

Every backend turns a batch of [-1, 1] images into one embedding per image, with a row of NaN
where MTCNN finds no face (the metric then reports the image as skipped). All backends share the
same MTCNN detection, so "N images without a face" means the same images whichever backend is
shown. Weights come only from :mod:`gani_bench.weights`.

=======================  =====================================================================
``curricularface-ir101``  CurricularFace IR-101 on ArcFace-aligned 112 px crops: HyperStyle's ID
                          evaluation network (the protocol's reported column).
``arcface-ir-se50``       ArcFace IR-SE50 (TreB1eN), 112 px crops: the ID *loss* network of
                          pSp/e4e/HyperStyle.
``facenet-vggface2``      FaceNet Inception-ResNet-v1 trained on VGGFace2 (facenet-pytorch),
                          on the same template scaled to 160 px.
``dlib``                  dlib's ResNet (128-d, 99.38% LFW) with its 5-point predictor and
                          ``get_face_chip`` (150 px); runs offline from ``face_recognition_models``.
=======================  =====================================================================

dlib's descriptor was trained for Euclidean distance (same person < 0.6). Its embeddings are
not unit-norm, but the metric learning pulls same-identity vectors together in direction as
well, so the cosine is still a monotone, meaningful similarity - only its scale differs from the
ArcFace-family numbers (same-person cosines are typically > 0.9 and different people ~0.8), so
never compare an ID column across backends.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Protocol, Tuple

import numpy as np
import torch
from torch import nn

from ...errors import CheckpointError
from ...registry import Registry
from .align import FaceDetection, FaceDetector, align_faces, to_uint8_hwc
from .ir_resnet import ARCFACE_IR_SE50, CURRICULARFACE_IR101, IRBackbone, IRConfig, load_ir_state_dict


class IdentityEmbedder(Protocol):
    dim: int

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> [N, dim]; rows of NaN where no face was found."""


@dataclass(frozen=True)
class IdentityBackend:
    name: str
    #: names in the weight registry this backend needs
    weights: Tuple[str, ...]
    summary: str
    factory: Callable[[torch.device], IdentityEmbedder]


ID_BACKENDS: Registry[IdentityBackend] = Registry("identity backend")

#: the backend the ``id_similarity`` metric (the reported column) uses
DEFAULT_BACKEND = "curricularface-ir101"

_detectors: Dict[str, FaceDetector] = {}
_embedders: Dict[Tuple[str, str], IdentityEmbedder] = {}
_lock = threading.RLock()


def get_detector(device: torch.device | str) -> FaceDetector:
    key = str(torch.device(device))
    with _lock:
        if key not in _detectors:
            _detectors[key] = FaceDetector(device)
        return _detectors[key]


def get_embedder(backend: str, device: torch.device | str = "cpu") -> IdentityEmbedder:
    """The cached embedder of ``backend`` on ``device``; raises WeightsUnavailable if absent."""
    spec = ID_BACKENDS.get(backend)
    key = (backend, str(torch.device(device)))
    with _lock:
        if key not in _embedders:
            _embedders[key] = spec.factory(torch.device(device))
        return _embedders[key]


def _fetch(name: str):
    from ... import weights  # looked up at call time so tests can substitute the registry

    return weights.fetch(name)


class AlignedTorchEmbedder:
    """MTCNN -> 5-point similarity warp to the template at ``crop_size`` -> a torch network."""

    def __init__(self, net: nn.Module, crop_size: int, dim: int, device: torch.device,
                 preprocess: Callable[[torch.Tensor], torch.Tensor] = lambda x: x) -> None:
        self.net = net.to(device).eval().requires_grad_(False)
        self.crop_size = crop_size
        self.dim = dim
        self.device = device
        self.preprocess = preprocess
        self.detector = get_detector(device)

    @torch.no_grad()
    def embed_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Embeddings of already aligned [M, 3, crop, crop] crops in [-1, 1]."""
        return self.net(self.preprocess(crops.to(self.device).float()))

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device).float()
        crops = align_faces(images, self.detector.detect(images), self.crop_size)
        out = torch.full((len(crops), self.dim), float("nan"), device=self.device)
        found = [i for i, c in enumerate(crops) if c is not None]
        if found:
            out[found] = self.embed_crops(torch.stack([crops[i] for i in found])).float()
        return out


def _load_ir(weights_name: str, config: IRConfig, device: torch.device) -> AlignedTorchEmbedder:
    local = _fetch(weights_name)
    state = torch.load(local.path, map_location="cpu", weights_only=True)
    net = load_ir_state_dict(IRBackbone(config), state, str(local.path))
    return AlignedTorchEmbedder(net, crop_size=112, dim=512, device=device)


def _load_facenet(device: torch.device) -> AlignedTorchEmbedder:
    from facenet_pytorch import InceptionResnetV1

    local = _fetch("facenet-vggface2")
    state = torch.load(local.path, map_location="cpu", weights_only=True)
    # the released file also holds the 8631-way VGGFace2 classifier; embeddings do not use it
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    net = InceptionResnetV1(pretrained=None, classify=False)  # pretrained=None: no download
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{local.path}: does not fit InceptionResnetV1 ({str(exc).splitlines()[0]}); is it the VGGFace2 FaceNet state dict?") from None
    # facenet-pytorch's fixed_image_standardization: (pixel - 127.5) / 128 on 0..255 pixels
    return AlignedTorchEmbedder(net, crop_size=160, dim=512, device=device, preprocess=lambda x: x * (127.5 / 128.0))


class DlibEmbedder:
    """dlib: MTCNN box -> 5-point shape predictor -> ``get_face_chip`` -> 128-d ResNet descriptor.

    The face box comes from the shared MTCNN (not dlib's HOG detector) so every backend skips the
    same images. Runs on the CPU whatever the device.
    """

    dim = 128

    def __init__(self, device: torch.device) -> None:
        import dlib

        self.device = device
        self.shape_predictor = dlib.shape_predictor(str(_fetch("dlib-shape-predictor-5").path))
        self.recognizer = dlib.face_recognition_model_v1(str(_fetch("dlib-face-recognition").path))
        self.detector = get_detector(device)
        self._dlib = dlib

    def _descriptor(self, image: np.ndarray, det: FaceDetection) -> np.ndarray:
        x0, y0, x1, y1 = (int(round(v)) for v in det.box)
        shape = self.shape_predictor(image, self._dlib.rectangle(x0, y0, x1, y1))
        chip = self._dlib.get_face_chip(image, shape, size=150, padding=0.25)
        return np.asarray(self.recognizer.compute_face_descriptor(chip), dtype=np.float32)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        detections: List[Optional[FaceDetection]] = self.detector.detect(images.to(self.device))
        frames = to_uint8_hwc(images)
        out = torch.full((len(frames), self.dim), float("nan"))
        for i, (frame, det) in enumerate(zip(frames, detections)):
            if det is not None:
                out[i] = torch.from_numpy(self._descriptor(np.ascontiguousarray(frame), det))
        return out.to(self.device)


ID_BACKENDS.add("curricularface-ir101", IdentityBackend(
    "curricularface-ir101", ("curricularface-ir101",),
    "CurricularFace IR-101, MTCNN-aligned 112 px (HyperStyle's ID evaluation)",
    lambda device: _load_ir("curricularface-ir101", CURRICULARFACE_IR101, device),
))
ID_BACKENDS.add("arcface-ir-se50", IdentityBackend(
    "arcface-ir-se50", ("arcface-ir-se50",),
    "ArcFace IR-SE50 (TreB1eN), MTCNN-aligned 112 px (the methods' ID-loss network)",
    lambda device: _load_ir("arcface-ir-se50", ARCFACE_IR_SE50, device),
))
ID_BACKENDS.add("facenet-vggface2", IdentityBackend(
    "facenet-vggface2", ("facenet-vggface2",),
    "FaceNet Inception-ResNet-v1 (VGGFace2), MTCNN-aligned 160 px",
    _load_facenet,
))
ID_BACKENDS.add("dlib", IdentityBackend(
    "dlib", ("dlib-face-recognition", "dlib-shape-predictor-5"),
    "dlib ResNet 128-d descriptor, 5-point face chip 150 px (offline, CC0 weights)",
    DlibEmbedder,
))
