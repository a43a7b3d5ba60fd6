"""FFHQ-style face alignment of arbitrary photos.

StyleGAN2's FFHQ generator only reproduces faces framed the way FFHQ frames them, so images from
a user's folder must be aligned the same way before inversion. The recipe is NVIDIA's
``recreate_aligned_images`` (NVlabs/ffhq-dataset, also used by pSp/e4e/PTI's
``align_all_parallel.py``); this module re-implements it from its description:

1. From facial landmarks take the two eye centres and the two mouth corners.
2. Build an oriented square: its x axis is the eye-to-eye vector corrected by the eye-to-mouth
   vector turned by 90 degrees (so a tilted head is levelled); its half-size is
   ``max(2 * |eye_to_eye|, 1.8 * |eye_to_mouth|)``; its centre is ``eye_avg + 0.1 * eye_to_mouth``.
3. For speed, shrink the photo when the square is much larger than the output; crop to the square
   plus a 10% border; where the square leaves the photo, pad by reflection and fade the padding
   into a blurred, then median-coloured version (so no hard mirrored edges show).
4. Resample the square to ``transform_size`` (FFHQ: 4096) with a bilinear quad transform, then
   downsample to ``output_size`` with an antialiasing filter.

Landmark sources (registry :data:`LANDMARK_DETECTORS`):

* ``dlib`` - the recipe's own: dlib's HOG face detector and 68-point shape predictor (weights
  ``dlib-shape-predictor-68``). Eye centre = mean of the 6 eye-contour points, mouth corners =
  outer-lip points 48 and 54. Reproduces FFHQ's framing.
* ``mtcnn`` - facenet-pytorch's MTCNN 5 points (weights ship with the package): the eye points
  are pupil estimates rather than contour means and the mouth points are its corners, so the
  crop agrees with dlib's to within a few percent of the face size, not pixel-exactly. Use it
  where dlib is not installed, or to match MTCNN-based evaluation crops.

Where several faces are found, the largest one is aligned (our choice; FFHQ took every face).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional, Tuple

import numpy as np
import PIL.Image
import PIL.ImageFilter

from .errors import GaniBenchError
from .registry import Registry

#: FFHQ's intermediate resolution of the quad transform (``recreate_aligned_images``)
FFHQ_TRANSFORM_SIZE = 4096


@dataclass(frozen=True)
class FaceLandmarks:
    """The four points the FFHQ recipe needs, in pixel (x, y) coordinates of the source image.

    ``eye_left`` is the eye on the image's left (the subject's right eye).
    """

    eye_left: np.ndarray
    eye_right: np.ndarray
    mouth_left: np.ndarray
    mouth_right: np.ndarray


LandmarkDetector = Callable[[np.ndarray], Optional[FaceLandmarks]]

#: name -> zero-argument factory of a detector ``rgb uint8 [H, W, 3] -> FaceLandmarks | None``
LANDMARK_DETECTORS: Registry[Callable[[], LandmarkDetector]] = Registry("landmark detector")


def _largest(areas: list) -> int:
    return int(np.argmax(np.asarray(areas)))


@LANDMARK_DETECTORS.register("dlib")
@lru_cache(maxsize=1)
def _dlib_detector() -> LandmarkDetector:
    try:
        import dlib
    except ImportError:
        raise GaniBenchError("landmarks='dlib' needs dlib; install it with `python -m pip install -e '.[dlib]'` in the gani-bench checkout or use landmarks='mtcnn'") from None
    from .weights import fetch

    predictor = dlib.shape_predictor(str(fetch("dlib-shape-predictor-68").path))
    detector = dlib.get_frontal_face_detector()

    def detect(rgb: np.ndarray) -> Optional[FaceLandmarks]:
        rects = detector(rgb, 1)  # upsample once, as the FFHQ/e4e alignment scripts do
        if len(rects) == 0:
            return None
        rect = rects[_largest([r.width() * r.height() for r in rects])]
        shape = predictor(rgb, rect)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        return FaceLandmarks(
            eye_left=pts[36:42].mean(axis=0),
            eye_right=pts[42:48].mean(axis=0),
            mouth_left=pts[48],
            mouth_right=pts[54],
        )

    return detect


@LANDMARK_DETECTORS.register("mtcnn")
@lru_cache(maxsize=1)
def _mtcnn_detector() -> LandmarkDetector:
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(select_largest=True, keep_all=True, device="cpu")

    def detect(rgb: np.ndarray) -> Optional[FaceLandmarks]:
        boxes, _, points = mtcnn.detect(PIL.Image.fromarray(rgb), landmarks=True)
        if boxes is None or len(boxes) == 0:
            return None
        i = _largest([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])
        p = np.asarray(points[i], dtype=np.float64)  # left eye, right eye, nose, mouth left, mouth right
        return FaceLandmarks(eye_left=p[0], eye_right=p[1], mouth_left=p[3], mouth_right=p[4])

    return detect


def detect_landmarks(image: PIL.Image.Image, landmarks: str = "dlib") -> Optional[FaceLandmarks]:
    """Landmarks of the largest face in ``image`` from the named detector, or None."""
    detector = LANDMARK_DETECTORS.get(landmarks)()
    return detector(np.asarray(image.convert("RGB")))


def crop_quad(lm: FaceLandmarks) -> Tuple[np.ndarray, float]:
    """The oriented FFHQ crop square: corners ``[4, 2]`` (top-left, bottom-left, bottom-right,
    top-right, the order PIL's QUAD transform expects) and its side length."""
    eye_avg = (lm.eye_left + lm.eye_right) / 2
    eye_to_eye = lm.eye_right - lm.eye_left
    eye_to_mouth = (lm.mouth_left + lm.mouth_right) / 2 - eye_avg
    # eye_to_mouth turned by -90 degrees points from the left to the right of the face, as
    # eye_to_eye does; averaging both levels the head more robustly than the eyes alone.
    turned = np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    x = eye_to_eye + turned
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])  # x turned by +90 degrees: points down the face
    c = eye_avg + 0.1 * eye_to_mouth
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return quad, float(np.hypot(*x) * 2)


def _shrink(img: PIL.Image.Image, quad: np.ndarray, qsize: float, output_size: int):
    factor = int(np.floor(qsize / output_size * 0.5))
    if factor <= 1:
        return img, quad, qsize
    size = (int(np.rint(img.width / factor)), int(np.rint(img.height / factor)))
    return img.resize(size, PIL.Image.LANCZOS), quad / factor, qsize / factor


def _bounds(quad: np.ndarray) -> Tuple[int, int, int, int]:
    return (int(np.floor(quad[:, 0].min())), int(np.floor(quad[:, 1].min())),
            int(np.ceil(quad[:, 0].max())), int(np.ceil(quad[:, 1].max())))


def _crop(img: PIL.Image.Image, quad: np.ndarray, border: int):
    x0, y0, x1, y1 = _bounds(quad)
    box = (max(x0 - border, 0), max(y0 - border, 0), min(x1 + border, img.width), min(y1 + border, img.height))
    if box[2] - box[0] < img.width or box[3] - box[1] < img.height:
        img = img.crop(box)
        quad = quad - np.array(box[:2], dtype=np.float64)
    return img, quad


def _pad(img: PIL.Image.Image, quad: np.ndarray, qsize: float, border: int):
    """Reflect-pad where the square leaves the photo; fade the padding to blur, then median colour."""
    x0, y0, x1, y1 = _bounds(quad)
    pad = np.array([max(border - x0, 0), max(border - y0, 0), max(x1 - img.width + border, 0), max(y1 - img.height + border, 0)])
    if pad.max() <= border - 4:
        return img, quad
    pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
    left, top, right, bottom = (int(v) for v in pad)
    arr = np.pad(np.asarray(img, dtype=np.float32), ((top, bottom), (left, right), (0, 0)), mode="reflect")
    h, w, _ = arr.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    # distance into the padding, 0 inside the photo rising to 1 at the outer edge
    mask = np.maximum(1.0 - np.minimum(xx / left, (w - 1 - xx) / right), 1.0 - np.minimum(yy / top, (h - 1 - yy) / bottom))[..., None]
    blurred = PIL.Image.fromarray(np.uint8(np.clip(np.rint(arr), 0, 255))).filter(PIL.ImageFilter.GaussianBlur(qsize * 0.02))
    arr += (np.asarray(blurred, dtype=np.float32) - arr) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    arr += (np.median(arr, axis=(0, 1)) - arr) * np.clip(mask, 0.0, 1.0)
    out = PIL.Image.fromarray(np.uint8(np.clip(np.rint(arr), 0, 255)), "RGB")
    return out, quad + np.array([left, top], dtype=np.float64)


def align_with_landmarks(image: PIL.Image.Image, lm: FaceLandmarks, output_size: int = 1024,
                         transform_size: int = FFHQ_TRANSFORM_SIZE, enable_padding: bool = True) -> PIL.Image.Image:
    """Apply the FFHQ crop defined by ``lm`` to ``image``; returns an ``output_size`` square RGB image."""
    img = image.convert("RGB")
    quad, qsize = crop_quad(lm)
    transform_size = max(transform_size, output_size)
    img, quad, qsize = _shrink(img, quad, qsize, output_size)
    border = max(int(np.rint(qsize * 0.1)), 3)
    img, quad = _crop(img, quad, border)
    if enable_padding:
        img, quad = _pad(img, quad, qsize, border)
    img = img.transform((transform_size, transform_size), PIL.Image.QUAD, (quad + 0.5).flatten().tolist(), PIL.Image.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), PIL.Image.LANCZOS)
    return img


def align_face(image: PIL.Image.Image, output_size: int = 1024, landmarks: str = "dlib",
               transform_size: int = FFHQ_TRANSFORM_SIZE, enable_padding: bool = True) -> Optional[PIL.Image.Image]:
    """FFHQ-align the largest face of ``image`` to ``output_size`` px, or None when no face is found.

    ``landmarks`` names a detector in :data:`LANDMARK_DETECTORS` (``dlib`` reproduces FFHQ;
    ``mtcnn`` needs no extra install). ``transform_size`` 4096 is FFHQ's; smaller values
    (e4e's scripts use 256) are faster and slightly softer.
    """
    lm = detect_landmarks(image, landmarks)
    if lm is None:
        return None
    return align_with_landmarks(image, lm, output_size, transform_size, enable_padding)
