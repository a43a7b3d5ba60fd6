"""Image losses of encoder training: L2, LPIPS (shared module) and the ArcFace identity loss.

The identity loss follows pSp/e4e's ``IDLoss``: crop the 256 px face to rows 35:223, cols
32:220 (scaled to the actual size), pool to 112 px, embed with ArcFace IR-SE50 (the registered
``arcface-ir-se50`` weights) and take 1 - cosine with the target's embedding. It is used only
for face generators whose weights are in the cache; otherwise training says so once and runs
without it (the authors use a MoCo network for other domains, which gani-bench does not ship).
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


class IdentityLoss(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        s = x.shape[-1] / 256.0
        x = x[:, :, round(35 * s):round(223 * s), round(32 * s):round(220 * s)]
        return self.net(F.adaptive_avg_pool2d(x, (112, 112)))

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.embed(y)
        return (1 - (self.embed(y_hat) * target).sum(1)).mean()


def build_identity_loss(domain: str, device: torch.device) -> Optional[IdentityLoss]:
    """ArcFace IR-SE50 ID loss for face generators with cached weights, else None and one warning."""
    from ...metrics.face.ir_resnet import ARCFACE_IR_SE50, IRBackbone, load_ir_state_dict
    from ...weights import fetch, missing_weights_reason

    if domain != "faces":
        log.warning("ID loss off: the generator's domain is %r, not faces (the authors use MoCo there, not shipped)", domain)
        return None
    reason = missing_weights_reason("arcface-ir-se50")
    if reason is not None:
        log.warning("ID loss off: %s", reason)
        return None
    local = fetch("arcface-ir-se50")
    state = torch.load(local.path, map_location="cpu", weights_only=True)
    net = load_ir_state_dict(IRBackbone(ARCFACE_IR_SE50), state, "arcface-ir-se50")
    return IdentityLoss(net).to(device)


def image_losses(y_hat: torch.Tensor, y: torch.Tensor, *, l2_weight: float, lpips: Optional[nn.Module],
                 lpips_weight: float, identity: Optional[IdentityLoss], id_weight: float
                 ) -> tuple[torch.Tensor, Dict[str, float]]:
    """Weighted sum of the image terms and their values (for the progress bar)."""
    l2 = F.mse_loss(y_hat, y)
    total = l2_weight * l2
    logs = {"l2": l2.item()}
    if lpips is not None and lpips_weight > 0:
        lp = lpips(y_hat, y).mean()
        total = total + lpips_weight * lp
        logs["lpips"] = lp.item()
    if identity is not None and id_weight > 0:
        idl = identity(y_hat, y)
        total = total + id_weight * idl
        logs["id"] = idl.item()
    return total, logs
