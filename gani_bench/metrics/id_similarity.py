"""ID similarity: cosine of identity embeddings of the reconstruction and its target.

One registered metric per identity backend (see :mod:`gani_bench.metrics.face.backends`), so a
report can show several side by side and each column's weights are checked on their own:

* ``id_similarity``          CurricularFace IR-101 - the protocol's reported column (HyperStyle's
                              evaluation network); unavailable (not silently replaced) when its
                              weights are absent.
* ``id_similarity_arcface``  ArcFace IR-SE50.
* ``id_similarity_facenet``  FaceNet (VGGFace2).
* ``id_similarity_dlib``     dlib ResNet; runs offline everywhere the ``dlib`` extra is installed.

Separate names rather than one metric with a backend option because the harness, the result
store and ``gani-bench metrics list`` all key on metric names: a backend option would make two
different numbers share one column. Images are compared at their own resolution (MTCNN and the
similarity warp resample anyway); an image where MTCNN finds no face in the target or in the
reconstruction gets NaN plus per-image flags saying which of the two lacked it
(``compute_columns``); the report counts both ("0.81 (of 50, no face in 1 target(s), 2
reconstruction(s))").
"""
from __future__ import annotations

from typing import ClassVar, Dict

import torch
import torch.nn.functional as F

from .base import METRICS, ImageMetric
from .face.backends import ID_BACKENDS, get_embedder


#: sub-columns of an ID metric: 1.0 where no face was found in the target / the reconstruction
NO_FACE_TARGET = "no_face_target"
NO_FACE_RECONSTRUCTION = "no_face_reconstruction"


def cosine_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity; NaN where either row is NaN (no face)."""
    sim = F.cosine_similarity(a.float(), b.float(), dim=1, eps=1e-12)
    missing = torch.isnan(a).any(dim=1) | torch.isnan(b).any(dim=1)
    return torch.where(missing, torch.full_like(sim, float("nan")), sim)


class IDSimilarity(ImageMetric):
    direction = "higher"
    backend: ClassVar[str] = ""

    @torch.no_grad()
    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.compute_columns(pred, target)[self.name]

    @torch.no_grad()
    def compute_columns(self, pred: torch.Tensor, target: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The similarity plus, per image, whether the face was missing in the target and in the
        reconstruction (1.0 = missing): a NaN alone cannot tell a reader which image lacked it."""
        embedder = get_embedder(self.backend, self.device)
        both = embedder.embed(torch.cat([pred.to(self.device), target.to(self.device)]))
        rec, tgt = both[: len(pred)], both[len(pred):]
        return {self.name: cosine_rows(rec, tgt),
                f"{self.name}/{NO_FACE_TARGET}": torch.isnan(tgt).any(dim=1).float(),
                f"{self.name}/{NO_FACE_RECONSTRUCTION}": torch.isnan(rec).any(dim=1).float()}


def _register(metric_name: str, backend: str) -> type:
    spec = ID_BACKENDS.get(backend)
    cls = type(
        f"IDSimilarity_{backend.replace('-', '_')}",
        (IDSimilarity,),
        {
            "name": metric_name,
            "backend": backend,
            "weights": spec.weights,
            "summary": f"cosine identity similarity: {spec.summary}",
            "__doc__": f"ID similarity with the {backend} backend.",
        },
    )
    return METRICS.add(metric_name, cls)


IDSimilarityCurricularFace = _register("id_similarity", "curricularface-ir101")
IDSimilarityArcFace = _register("id_similarity_arcface", "arcface-ir-se50")
IDSimilarityFaceNet = _register("id_similarity_facenet", "facenet-vggface2")
IDSimilarityDlib = _register("id_similarity_dlib", "dlib")

#: metric name -> backend name, for code that wants the mapping (e.g. the report's footnotes)
METRIC_BACKENDS: dict[str, str] = {
    cls.name: cls.backend for cls in (IDSimilarityCurricularFace, IDSimilarityArcFace, IDSimilarityFaceNet, IDSimilarityDlib)
}
