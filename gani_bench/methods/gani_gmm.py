"""Gradient Modification Modules (GMMs): shallow per-layer networks that map a layer's gradient
(and optionally its weights) to an update of that layer's weights.

GaNI's abstract names "a set of shallow update networks (aka. Gradient Modification Modules)
that modify the layers of the generator"; the architecture below is OUR reading (the paper
body and code are not public). Two structures, selected by ``GMM_STRUCTURES``:

* ``elementwise``: a 2-layer MLP applied to every weight's feature vector (as learned
  optimisers do), shared by all weights of one layer;
* ``channel_mixing``: the same per-weight first layer, then learned maps along the output and
  the input channel axes (initialised to the identity, so it starts element-wise).

The output is multiplied by a per-layer ``gain`` that starts at 0, so untrained GMMs leave the
generator *exactly* unchanged. The last layer is initialised normally (not at 0): with gain 0
the gradient reaches the gain first and then, once the gain is non-zero, every other weight;
a zero last layer and a zero gain together would have no gradient at all.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Sequence

import torch
from torch import nn

from ..registry import Registry

#: per-weight input features: name -> f(normalised gradient, weight / rms) -> tensor like the weight
FEATURES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("GMM feature")
FEATURES.add("grad", lambda g, theta: g)
FEATURES.add("sign", lambda g, theta: torch.sign(g))
FEATURES.add("theta", lambda g, theta: theta)


def rms(x: torch.Tensor) -> torch.Tensor:
    return x.detach().square().mean().sqrt()


def layer_features(grad: torch.Tensor, weight: torch.Tensor, names: Sequence[str], eps: float = 1e-12) -> torch.Tensor:
    """Stack the requested features of one layer: [F, *weight.shape].

    The gradient and the weight are each divided by their RMS over the layer, so one module
    design fits layers of any scale (conv 3x3 weights, ToRGB 1x1, biases).
    """
    g = grad / (rms(grad) + eps)
    theta = weight.detach() / (rms(weight) + eps)
    return torch.stack([FEATURES.get(n)(g, theta) for n in names])


def _as_3d(shape: torch.Size) -> tuple:
    """View any parameter as [out, in, rest] (biases: [out, 1, 1])."""
    out = shape[0]
    inn = shape[1] if len(shape) > 1 else 1
    rest = int(math.prod(shape[2:])) if len(shape) > 2 else 1
    return out, inn, rest


class ElementwiseGMM(nn.Module):
    """``gain * (W2 . act(W1 . f + b1) + b2)`` for each weight's feature vector f."""

    def __init__(self, shape: torch.Size, num_features: int, hidden: int) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.w1 = nn.Parameter(torch.randn(num_features, hidden) / math.sqrt(num_features))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(torch.randn(hidden) / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(()))
        self.gain = nn.Parameter(torch.zeros(()))

    def hidden_map(self, features: torch.Tensor) -> torch.Tensor:
        """[F, *shape] -> [H, M] with M = numel (first layer, per weight, as one matmul)."""
        x = features.reshape(features.shape[0], -1)
        h = torch.addmm(self.b1[:, None], self.w1.t(), x)
        return torch.nn.functional.leaky_relu(h, 0.2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = torch.mv(self.hidden_map(features).t(), self.w2) + self.b2
        return self.gain * out.reshape(self.shape)


class ChannelMixingGMM(ElementwiseGMM):
    """Element-wise first layer; second layer mixes along the output and input channel axes.

    ``out[p, q, k] = sum_{o, i} A_out[p, o] * s[o, i, k] * A_in[q, i]`` with
    ``s = sum_h w2[h] * hidden[h]``: a learned bilinear map of the layer's update pattern.
    A = I + B / n with B starting at 0 (n = the axis length): at initialisation this is the
    element-wise module, and an Adam step of size lr on B moves the output by about lr times
    the mean update rather than lr times n of them (which diverged in our first trials).
    """

    def __init__(self, shape: torch.Size, num_features: int, hidden: int) -> None:
        super().__init__(shape, num_features, hidden)
        out, inn, _ = _as_3d(torch.Size(shape))
        self.b_out = nn.Parameter(torch.zeros(out, out))
        self.b_in = nn.Parameter(torch.zeros(inn, inn))
        self.register_buffer("eye_out", torch.eye(out))
        self.register_buffer("eye_in", torch.eye(inn))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        s = torch.mv(self.hidden_map(features).t(), self.w2)
        s3 = s.reshape(_as_3d(torch.Size(self.shape)))
        a_out = self.eye_out + self.b_out / self.b_out.shape[0]
        a_in = self.eye_in + self.b_in / self.b_in.shape[0]
        mixed = torch.einsum("po,oik,qi->pqk", a_out, s3, a_in)
        return self.gain * (mixed.reshape(self.shape) + self.b2)


GMM_STRUCTURES: Registry[type] = Registry("GMM structure")
GMM_STRUCTURES.add("elementwise", ElementwiseGMM)
GMM_STRUCTURES.add("channel_mixing", ChannelMixingGMM)


class GradientModificationModules(nn.Module):
    """One GMM per tuned layer, turning fixed per-layer features into weight deltas.

    ``update='additive'``: delta = GMM(f) * scale, scale = RMS of the layer's weights (so the
    gain is relative to the layer's magnitude); ``update='multiplicative'`` (HyperStyle's
    W * (1 + Delta)): delta = W * GMM(f).
    """

    def __init__(
        self,
        weights: Dict[str, torch.Tensor],
        features: Dict[str, torch.Tensor],
        *,
        structure: str,
        hidden: int,
        update: str = "additive",
        relative_scale: bool = True,
    ) -> None:
        super().__init__()
        if update not in ("additive", "multiplicative"):
            from ..errors import ConfigError

            raise ConfigError(f"gani: update must be 'additive' or 'multiplicative', got {update!r}")
        cls = GMM_STRUCTURES.get(structure)
        self.names = list(weights)
        self.update = update
        self.modules_by_index = nn.ModuleList(
            [cls(weights[n].shape, features[n].shape[0], hidden) for n in self.names]
        )
        for n in self.names:
            self.register_buffer(_buf(n, "f"), features[n].detach())
            self.register_buffer(_buf(n, "w"), weights[n].detach())
            scale = rms(weights[n]) if relative_scale else torch.ones((), device=weights[n].device)
            self.register_buffer(_buf(n, "s"), scale.reshape(()))

    def forward(self) -> Dict[str, torch.Tensor]:
        deltas: Dict[str, torch.Tensor] = {}
        for n, gmm in zip(self.names, self.modules_by_index):
            out = gmm(getattr(self, _buf(n, "f")))
            if self.update == "multiplicative":
                deltas[n] = getattr(self, _buf(n, "w")) * out
            else:
                deltas[n] = out * getattr(self, _buf(n, "s"))
        return deltas


def _buf(name: str, kind: str) -> str:
    return f"{kind}_{name.replace('.', '__')}"
