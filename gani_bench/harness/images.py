"""Loading one image file into a generator-sized tensor, fixing what is obvious, skipping the rest.

A benchmark over thousands of user files must never lose a run to one bad file. Every file goes
through :func:`load_image`, which either returns a ``[3, R, R]`` tensor in ``[-1, 1]`` plus the
list of fixes it applied, or raises :class:`~gani_bench.errors.ImageError` with one line saying
why the file is skipped. The caller logs that line once and counts the skip.

Policy (thresholds live in :class:`ImagePolicy`, documented in the README):

* corrupt / truncated / not an image -> skipped;
* grayscale, palette, CMYK, 16-bit -> converted to RGB;
* transparency (RGBA, LA, palette with transparency) -> composited on white, the usual
  convention of image viewers, so a cut-out face is not put on black;
* smaller than ``min_side`` (16 px) on either side -> skipped: up-sampling cannot invent a face;
* more than ``max_pixels`` (64 Mpx) -> skipped *before decoding* (decompression-bomb guard;
  PIL's own guard only warns below 2x its 89 Mpx limit);
* aspect ratio (long / short side) up to ``max_aspect`` (2.0) -> centre-cropped to a square,
  beyond -> skipped: cropping a panorama to its centre no longer shows "the image";
* finally resized to the generator's resolution with Lanczos (PIL ``Image.LANCZOS``; for
  down-sampling this is an anti-aliased windowed-sinc filter, close to area averaging without its
  blur; for up-sampling it is sharper than bicubic), then mapped to ``[-1, 1]``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

#: file extensions treated as images when a folder is given as the dataset
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm")


@dataclass(frozen=True)
class ImagePolicy:
    """Thresholds for fixing or skipping an input image (see the module docstring for why)."""

    min_side: int = 16
    max_pixels: int = 64 * 1024 * 1024
    max_aspect: float = 2.0
    background: Tuple[int, int, int] = (255, 255, 255)


DEFAULT_POLICY = ImagePolicy()


def _to_rgb(img: Image.Image, policy: ImagePolicy, fixes: List[str]) -> Image.Image:
    """Convert any PIL mode to RGB, compositing transparency on ``policy.background``."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, policy.background + (255,))
        canvas.alpha_composite(rgba)
        fixes.append(f"{img.mode} composited on white")
        return canvas.convert("RGB")
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: PIL's convert("L") clips instead of scaling; scale to 8 bits first
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    fixes.append(f"{img.mode} converted to RGB")
    return img.convert("RGB")


def _center_square(img: Image.Image, policy: ImagePolicy, fixes: List[str], name: str) -> Image.Image:
    w, h = img.size
    if w == h:
        return img
    aspect = max(w, h) / min(w, h)
    if aspect > policy.max_aspect:
        raise ImageError(
            f"{name}: aspect ratio {aspect:.2f} ({w}x{h}) is beyond {policy.max_aspect:g}; "
            "crop it to the subject and pass it again"
        )
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    fixes.append(f"centre-cropped {w}x{h} to {side}x{side}")
    return img.crop((left, top, left + side, top + side))


def prepare_pil(img: Image.Image, resolution: int, *, name: str = "image",
                policy: ImagePolicy = DEFAULT_POLICY) -> Tuple[Image.Image, List[str]]:
    """Apply the policy to an already opened image; return the RGB square image and the fixes."""
    fixes: List[str] = []
    w, h = img.size
    if min(w, h) < policy.min_side:
        raise ImageError(f"{name}: {w}x{h} is smaller than {policy.min_side} px on a side; use a larger image")
    img = _to_rgb(img, policy, fixes)
    img = _center_square(img, policy, fixes, name)
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), Image.LANCZOS)
    return img, fixes


def open_image(path: Path, policy: ImagePolicy = DEFAULT_POLICY) -> Image.Image:
    """Open and decode ``path``, refusing decompression bombs before any pixel is decoded."""
    name = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size  # header only: nothing is decoded yet
            if w * h > policy.max_pixels:
                img.close()
                raise ImageError(
                    f"{name}: {w}x{h} has more than {policy.max_pixels} pixels (decompression-bomb guard); "
                    "downscale it first"
                )
            img.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: not a readable image ({type(exc).__name__}); replace or remove the file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"{name}: corrupt image ({first}); replace or remove the file") from None
    # honour the EXIF orientation tag, as a photo viewer would
    return ImageOps.exif_transpose(img)


def to_uint8(t: torch.Tensor) -> torch.Tensor:
    """Float image(s) in [-1, 1] -> the uint8 values a PNG of them holds (clipped, rounded)."""
    return ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(u8: torch.Tensor) -> torch.Tensor:
    """uint8 image(s) -> float32 in [-1, 1]; the one conversion every loaded image goes through."""
    return u8.to(torch.float32).div(127.5).sub(1.0).contiguous()


def as_saved(t: torch.Tensor) -> torch.Tensor:
    """What ``t`` becomes after a PNG round trip (uint8 quantisation), on ``t``'s device.

    Metrics score images as saved - like the papers' evaluation scripts and GANInverter, which
    read the written PNGs - so a metric computed during a run and one recomputed later from the
    run's PNGs see exactly the same numbers.
    """
    return from_uint8(to_uint8(t)).to(t.device)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor [3, H, W] in [-1, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return from_uint8(torch.from_numpy(arr.copy()).permute(2, 0, 1))


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor [3, H, W] in [-1, 1] -> RGB PIL image (values clipped)."""
    return Image.fromarray(to_uint8(t).permute(1, 2, 0).numpy(), mode="RGB")


def load_png(path: Path) -> torch.Tensor:
    """A PNG this package saved (any RGB image), as [3, H, W] in [-1, 1] - no resizing or fixes."""
    with Image.open(path) as img:
        return pil_to_tensor(img)


def load_image(path: Path | str, resolution: int, *,
               policy: ImagePolicy = DEFAULT_POLICY) -> Tuple[torch.Tensor, List[str]]:
    """Load ``path`` as a ``[3, resolution, resolution]`` tensor in ``[-1, 1]``.

    Returns the tensor and the fixes applied (empty when the file needed none). Raises
    :class:`ImageError` (one line) when the file is skipped.
    """
    path = Path(path)
    img = open_image(path, policy)
    img, fixes = prepare_pil(img, resolution, name=str(path), policy=policy)
    return pil_to_tensor(img), fixes


def save_png(t: torch.Tensor, path: Path) -> None:
    """Write a [3, H, W] tensor as PNG atomically (temp file + rename), so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tensor_to_pil(t).save(tmp, format="PNG")
    tmp.replace(path)
