"""Ranger (RAdam + Lookahead + gradient centralisation) against hand-computed updates."""
from __future__ import annotations

import math

import torch

from gani_bench.encoders.training.ranger import Ranger


def test_first_step_is_sgd_on_the_centred_gradient():
    w = torch.nn.Parameter(torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]]))
    b = torch.nn.Parameter(torch.tensor([0.5, -0.5]))
    g_w = torch.tensor([[1.0, 2.0, 6.0], [-3.0, 0.0, 0.0]])
    g_b = torch.tensor([2.0, -4.0])
    w.grad, b.grad = g_w.clone(), g_b.clone()
    w0, b0 = w.detach().clone(), b.detach().clone()
    Ranger([w, b], lr=0.1).step()
    # step 1: rho_1 = 1 <= 5 -> p -= lr / (1 - b1) * (1 - b1) g = lr * g; rows of w are centred, b is not
    centred = g_w - g_w.mean(dim=1, keepdim=True)
    assert torch.allclose(w.detach(), w0 - 0.1 * centred, atol=1e-7)
    assert torch.allclose(b.detach(), b0 - 0.1 * g_b, atol=1e-7)


def test_rectified_steps_and_lookahead_match_closed_form():
    """Constant gradient for 6 steps: m_t = (1-b1^t) g, v_t = (1-b2^t) g^2; lookahead at t = k = 6."""
    lr, b1, b2, eps, g = 0.01, 0.95, 0.999, 1e-5, 0.5
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = Ranger([p], lr=lr)
    rho_inf = 2 / (1 - b2) - 1
    fast = 1.0
    for t in range(1, 7):
        p.grad = torch.tensor([g])
        opt.step()
        rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        m, v = (1 - b1 ** t) * g, (1 - b2 ** t) * g * g
        if rho > 5:
            r = math.sqrt((1 - b2 ** t) * (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            fast -= lr * r / (1 - b1 ** t) * m / (math.sqrt(v) + eps)
        else:
            fast -= lr / (1 - b1 ** t) * m
        if t < 6:
            assert abs(p.item() - fast) < 1e-6, t
    # t = 6: the slow weights move half way to the fast ones and the parameter jumps there
    assert abs(p.item() - (1.0 + 0.5 * (fast - 1.0))) < 1e-6
    assert rho > 5  # the sixth step was a rectified one, so both branches were exercised
