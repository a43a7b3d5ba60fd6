"""The shipped demo HyperStyle (embedded-64): better than its W-encoder on held-out renders,
and more iterations do not make it worse.

Held-out images: renders of the embedded generator from a seed the training set (seed 0)
does not use. Errors are per-image MSE at 64 px, averaged over 16 images.
"""
from __future__ import annotations

import pytest
import torch

from gani_bench.hyperstyle import DEMO_HYPERSTYLES, load_hyperstyle
from gani_bench.hyperstyle.data import held_out_renders
from gani_bench.hyperstyle.evaluate import error_by_iteration

HELD_OUT_SEED = 987_654


@pytest.fixture(scope="module")
def demo():
    hs, info = load_hyperstyle("embedded-64-hyperstyle")
    return hs, info


def test_demo_is_registered_with_its_command() -> None:
    entry = DEMO_HYPERSTYLES.get("embedded-64-hyperstyle")
    assert "gani-bench train hyperstyle --generator embedded-64" in entry.command and "--seed 0" in entry.command
    assert entry.path().is_file()


def test_demo_beats_its_w_encoder_and_a_second_iteration_helps(demo) -> None:
    """Measured when shipped (MSE, W-encoder = iteration 0): 0.0584, 0.0411, 0.0400, 0.0413,
    0.0427, 0.0442. Asserted: every iteration count is at least 20% better than the W-encoder
    and the second iteration improves on the first. NOT asserted, because it does not hold for
    this CPU-trained model: iterations 3-5 are slightly worse than 2 (docs/hyperstyle.md)."""
    hs, info = demo
    G = info.generator
    targets = held_out_renders(G, 16, HELD_OUT_SEED)
    err = error_by_iteration(hs, G, targets, n_iters=5)
    assert all(err[t] < 0.8 * err[0] for t in range(1, 6)), err
    assert err[2] <= err[1], err
