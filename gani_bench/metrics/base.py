"""The metric interface and registry.

A metric is one small module that subclasses :class:`ImageMetric` (per-image comparison of a
reconstruction with its target) or :class:`EditMetric` (needs the generators and latents), sets
``name``, ``direction`` and ``weights``, and registers itself with ``@METRICS.register(name)``.
The harness discovers metrics only through :data:`METRICS`, so adding a metric is one file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, Literal, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from ..stylegan2.networks import Generator

Direction = Literal["lower", "higher"]

#: Resolution every image metric compares at (the HyperStyle/PTI/e4e evaluation protocol).
EVAL_RESOLUTION = 256


def resize_for_eval(images: torch.Tensor, size: int = EVAL_RESOLUTION) -> torch.Tensor:
    """Resize a batch in [-1, 1] to ``size`` x ``size`` as the reference evaluations do.

    The reference scripts (pSp/e4e/HyperStyle ``inference``/``calc_losses_on_images``) load the
    saved images with PIL and ``transforms.Resize((256, 256))``, i.e. bilinear interpolation;
    for down-sampling torchvision applies antialiasing, so we use bilinear with
    ``antialias=True`` on tensors (the tensor equivalent of PIL's bilinear filter).
    Images already at ``size`` pass through untouched.
    """
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class Metric:
    """Common metadata of all metrics."""

    name: ClassVar[str] = ""
    direction: ClassVar[Direction] = "lower"
    #: names in the weight registry (``gani_bench.weights``) this metric needs
    weights: ClassVar[Tuple[str, ...]] = ()
    #: ``"image"`` metrics compare pred/target; ``"edit"`` metrics need an :class:`EditContext`
    kind: ClassVar[str] = "image"
    #: human-readable one-liner for ``gani-bench metrics list``
    summary: ClassVar[str] = ""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def unavailable_reason(self) -> Optional[str]:
        """None if the metric can run here, else one line: what is missing and the fix."""
        from ..weights import missing_weights_reason

        for w in self.weights:
            reason = missing_weights_reason(w)
            if reason is not None:
                return reason
        return None


class ImageMetric(Metric):
    kind: ClassVar[str] = "image"

    def compute(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return one value per image, shape [N]. Inputs are [N, 3, H, W] in [-1, 1].

        A value of NaN means "not computed for this image" (e.g. no face found); the harness
        counts those instead of averaging them.
        """
        raise NotImplementedError


@dataclass
class EditContext:
    """Everything an edit-fidelity metric needs for a batch of inverted images."""

    generator: "Generator"
    #: pivot latents [N, num_ws, w_dim]
    latents: torch.Tensor
    #: per-image generator weight deltas (``None`` for methods that do not tune G)
    weight_deltas: Optional[Sequence[Dict[str, torch.Tensor]]]
    targets: torch.Tensor
    #: named edits: name -> callable(latents [N,num_ws,w_dim]) -> edited latents
    edits: Dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    #: an encoder (for LEC), ``None`` for optimisation methods
    encoder: Optional[Any] = None


class EditMetric(Metric):
    kind: ClassVar[str] = "edit"
    #: True when the metric re-encodes images with the method's encoder (LEC): a resume cannot
    #: recompute it from saved latents and deltas, which do not include the encoder
    needs_encoder: ClassVar[bool] = False

    def compute_edit(self, ctx: EditContext) -> Dict[str, torch.Tensor]:
        """Return {column_name: per-image values [N]} (several edits give several columns)."""
        raise NotImplementedError


METRICS: Registry[type] = Registry("metric")
