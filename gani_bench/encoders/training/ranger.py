"""Ranger: RAdam + Lookahead + gradient centralisation, the optimiser of pSp/e4e/ReStyle/HyperStyle.

Why our own and not ``pytorch-ranger``: that package is not an allowed dependency here, and the
authors train with lessw2020's Ranger *with gradient centralisation* (which ``pytorch-ranger``'s
plain ``Ranger`` does not do); the algorithm is ~50 lines, so a small implementation with tests
(first step = SGD on the centred gradient; lookahead interpolation every k steps) is cheaper
and more transparent than a vendored copy.

Per parameter, with gradient g (centred: g - mean over all but dim 0, for tensors of dim > 1):
m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, t += 1; rho_inf = 2/(1-b2) - 1,
rho_t = rho_inf - 2 t b2^t / (1 - b2^t). If rho_t > 5 the rectified Adam step
p -= lr * r_t / (1 - b1^t) * m / (sqrt(v) + eps) with r_t = sqrt((1-b2^t)(rho_t-4)(rho_t-2) rho_inf /
((rho_inf-4)(rho_inf-2) rho_t)); otherwise the momentum step p -= lr / (1 - b1^t) * m. Every k
steps: slow += alpha (p - slow); p = slow. Defaults are the authors': lr 1e-4 is passed by the
caller, alpha 0.5, k 6, betas (0.95, 0.999), eps 1e-5, threshold 5, no weight decay.
"""
from __future__ import annotations

import math
from typing import Iterable, Tuple

import torch
from torch.optim import Optimizer


class Ranger(Optimizer):
    def __init__(self, params: Iterable, lr: float = 1e-4, alpha: float = 0.5, k: int = 6, sma_threshold: float = 5.0,
                 betas: Tuple[float, float] = (0.95, 0.999), eps: float = 1e-5, weight_decay: float = 0.0,
                 centralize: bool = True) -> None:
        if not 0.0 <= alpha <= 1.0 or k < 1 or lr <= 0 or eps <= 0:
            raise ValueError("Ranger needs 0 <= alpha <= 1, k >= 1, lr > 0, eps > 0")
        defaults = dict(lr=lr, alpha=alpha, k=k, sma_threshold=sma_threshold, betas=betas, eps=eps,
                        weight_decay=weight_decay, centralize=centralize)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            rho_inf = 2.0 / (1.0 - b2) - 1.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.float()
                if group["centralize"] and g.dim() > 1:
                    g = g - g.mean(dim=tuple(range(1, g.dim())), keepdim=True)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, dtype=torch.float32)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32)
                    state["slow_buffer"] = p.detach().clone()
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                b2t = b2 ** t
                rho_t = rho_inf - 2.0 * t * b2t / (1.0 - b2t)
                data = p.detach().float()
                if group["weight_decay"]:
                    data.add_(data, alpha=-group["weight_decay"] * group["lr"])
                if rho_t > group["sma_threshold"]:
                    r = math.sqrt((1 - b2t) * (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                    data.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-group["lr"] * r / (1 - b1 ** t))
                else:
                    data.add_(m, alpha=-group["lr"] / (1 - b1 ** t))
                p.copy_(data)
                if t % group["k"] == 0:
                    slow = state["slow_buffer"]
                    slow.add_(p.detach() - slow, alpha=group["alpha"])
                    p.copy_(slow)
        return loss
