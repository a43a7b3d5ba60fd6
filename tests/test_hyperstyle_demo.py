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


def test_demo_beats_its_w_encoder_and_iterations_do_not_hurt(demo) -> None:
    hs, info = demo
    G = info.generator
    targets = held_out_renders(G, 16, HELD_OUT_SEED)
    err = error_by_iteration(hs, G, targets, n_iters=5)
    assert err[1] < 0.9 * err[0], err  # HyperStyle improves on the W-encoder's reconstruction
    # more iterations: never worse than one iteration, and each step at most 1% worse than the best before it
    assert err[5] <= err[1], err
    for t in range(2, 6):
        assert err[t] <= 1.01 * min(err[s] for s in range(1, t)), err
