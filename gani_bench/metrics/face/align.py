"""Face detection (MTCNN) and 5-point similarity alignment to the ArcFace 112x112 template.

HyperStyle's ID evaluation (``scripts/calc_id_loss_parallel.py``) runs TreB1eN's MTCNN on each
image, warps the face with a similarity transform that maps the five detected landmarks (eyes,
nose tip, mouth corners) onto the standard ArcFace template in a 112x112 crop, and skips images
where no face is found. We do the same with ``facenet_pytorch.MTCNN`` (its P/R/O-Net weights
ship inside the package, so detection needs no download) and our own least-squares similarity
fit (Umeyama 1991) and bilinear warp. Pixels outside the source image are black, as with
``cv2.warpAffine``'s default border.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: ArcFace / InsightFace reference landmarks for a 112x112 crop (x, y): left eye, right eye,
#: nose tip, left mouth corner, right mouth corner
ARCFACE_TEMPLATE_112 = torch.tensor(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)


@dataclass
class FaceDetection:
    #: x0, y0, x1, y1 in pixels of the input image
    box: np.ndarray
    #: [5, 2] landmarks (x, y) in pixels, order as in :data:`ARCFACE_TEMPLATE_112`
    landmarks: np.ndarray
    probability: float


@dataclass(frozen=True)
class DetectorConfig:
    min_face_size: int = 20
    #: P-, R-, O-Net score thresholds and pyramid factor: the defaults of TreB1eN's
    #: ``detect_faces`` that HyperStyle's ``MTCNN.align`` calls (facenet-pytorch's own defaults
    #: are 0.6/0.7/0.7 and 0.709).
    thresholds: tuple = (0.6, 0.7, 0.8)
    factor: float = 0.707


def to_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3], the way a saved PNG would hold them."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


class FaceDetector:
    """MTCNN on a batch; returns the largest detected face per image, or None.

    TreB1eN's ``align`` takes the first face MTCNN lists; on aligned face datasets that is the
    one large central face, which is also the largest - we pick the largest explicitly so the
    choice does not depend on detector ordering.
    """

    def __init__(self, device: torch.device | str = "cpu", config: DetectorConfig = DetectorConfig()) -> None:
        from facenet_pytorch import MTCNN

        self.device = torch.device(device)
        self.mtcnn = MTCNN(
            min_face_size=config.min_face_size,
            thresholds=list(config.thresholds),
            factor=config.factor,
            select_largest=True,
            keep_all=True,
            device=self.device,
        )

    @torch.no_grad()
    def detect(self, images: torch.Tensor) -> List[Optional[FaceDetection]]:
        frames = to_uint8_hwc(images).astype(np.float32)
        boxes, probs, points = self.mtcnn.detect(frames, landmarks=True)
        out: List[Optional[FaceDetection]] = []
        for b, p, lm in zip(boxes, probs, points):
            if b is None or len(b) == 0:
                out.append(None)
                continue
            areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            i = int(np.argmax(areas))
            out.append(FaceDetection(box=np.asarray(b[i], dtype=np.float64), landmarks=np.asarray(lm[i], dtype=np.float64), probability=float(p[i])))
        return out


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) with ``dst ~ M @ [src; 1]``.

    Umeyama's closed form; returns the 2x3 matrix M. Reflections are excluded.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    rot = u @ fix @ vt
    var_s = (s0**2).sum() / len(src)
    scale = float((sig * np.diag(fix)).sum() / var_s)
    shift = mu_d - scale * rot @ mu_s
    return np.concatenate([scale * rot, shift[:, None]], axis=1)


def warp_affine(image: torch.Tensor, matrix: np.ndarray, size: int) -> torch.Tensor:
    """Warp [3, H, W] ([-1, 1]) so that output pixel q shows input pixel M^-1 q (pixel centres
    at integer coordinates, as cv2.warpAffine); bilinear, black outside the image."""
    _, h, w = image.shape
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    inv = torch.as_tensor(np.linalg.inv(full)[:2], dtype=torch.float32, device=image.device)
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float32, device=image.device),
        torch.arange(size, dtype=torch.float32, device=image.device),
        indexing="ij",
    )
    q = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # [S, S, 3]
    p = q @ inv.T  # source pixel coordinates [S, S, 2]
    grid = torch.stack([2 * p[..., 0] / (w - 1) - 1, 2 * p[..., 1] / (h - 1) - 1], dim=-1)
    shifted = image.float()[None] + 1.0  # black (-1) becomes 0 = the zero padding value
    out = F.grid_sample(shifted, grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[0] - 1.0


def align_faces(
    images: torch.Tensor, detections: Sequence[Optional[FaceDetection]], size: int = 112
) -> List[Optional[torch.Tensor]]:
    """Crops [3, size, size] in [-1, 1] aligned to the ArcFace template (scaled to ``size``)."""
    template = (ARCFACE_TEMPLATE_112 * (size / 112.0)).numpy()
    crops: List[Optional[torch.Tensor]] = []
    for image, det in zip(images, detections):
        if det is None:
            crops.append(None)
            continue
        crops.append(warp_affine(image, similarity_transform(det.landmarks, template), size))
    return crops
