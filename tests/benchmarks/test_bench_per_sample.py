"""Per-sample weight offsets: one grouped pass vs a loop of single passes; shared path unchanged.

Run: ``pytest tests/benchmarks/test_bench_per_sample.py --benchmark-only -p no:randomly``
(skipped in the normal run). Generator: the embedded 64 px one (``embedded-64``), offsets on
all 14 modulated conv / ToRGB weights, ``mode='mul'`` as HyperStyle applies them, batch 8,
forward only (what HyperStyle's inference does per iteration), ``GANI_BENCH_THREADS`` threads
(default 1), on ``GANI_BENCH_DEVICE`` (default ``cpu``; ``cuda`` where a GPU is present, skipped
otherwise: the grouped pass is what CUDA uses, ``synthesize_batch_deltas``). Each timed call ends
in ``float(...)``, which waits for the device. Groups:

* ``per-sample-batch8``: ``synthesize`` with [8, *shape] offsets (one pass) vs 8 calls with
  the single images' offsets (the loop ``synthesize_batch_deltas`` used before).
* ``shared-deltas-batch8``: shared deltas through ``synthesize`` today vs the pre-change
  implementation (``functional_call`` with ``param + delta``, reproduced inline), so a
  slowdown of the shared path would show up as a ratio above 1.
"""
from __future__ import annotations

import os
from typing import Callable, Dict

import pytest
import torch
from torch.func import functional_call

from gani_bench.stylegan2.embedded import build_embedded_generator
from gani_bench.stylegan2.functional import per_sample_parameter_names, synthesize

N = 8


DEVICE = torch.device(os.environ.get("GANI_BENCH_DEVICE", "cpu"))


def _setup() -> tuple:
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("GANI_BENCH_DEVICE=cuda but no CUDA device is present")
    torch.set_num_threads(int(os.environ.get("GANI_BENCH_THREADS", "1")))
    G = build_embedded_generator(0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ws = G.mapping(torch.randn(N, G.z_dim, generator=gen), None)
    params = dict(G.named_parameters())
    names = per_sample_parameter_names(G)
    per = {k: 0.1 * torch.randn(N, *params[k].shape, generator=gen).to(DEVICE) for k in names}
    shared = {k: 0.1 * torch.randn(params[k].shape, generator=gen).to(DEVICE) for k in names}
    return G.to(DEVICE), ws.to(DEVICE), per, shared


def _old_shared(G, ws: torch.Tensor, deltas: Dict[str, torch.Tensor]) -> torch.Tensor:
    params = dict(G.synthesis.named_parameters())
    over = {k[len("synthesis."):]: params[k[len("synthesis."):]] + d for k, d in deltas.items()}
    return functional_call(G.synthesis, over, args=(ws,), kwargs=dict(noise_mode="const"), strict=False)


def _runner(kind: str) -> Callable[[], float]:
    G, ws, per, shared = _setup()

    @torch.no_grad()
    def one_pass() -> float:
        return float(synthesize(G, ws, per, mode="mul").sum())

    @torch.no_grad()
    def loop() -> float:
        return float(sum(synthesize(G, ws[i:i + 1], {k: v[i] for k, v in per.items()}, mode="mul").sum() for i in range(N)))

    @torch.no_grad()
    def shared_now() -> float:
        return float(synthesize(G, ws, shared).sum())

    @torch.no_grad()
    def shared_before() -> float:
        return float(_old_shared(G, ws, shared).sum())

    return dict(one_pass=one_pass, loop=loop, shared_now=shared_now, shared_before=shared_before)[kind]


@pytest.mark.benchmark(group="per-sample-batch8")
@pytest.mark.parametrize("kind", ["one_pass", "loop"])
def test_per_sample(benchmark, kind: str) -> None:
    value = benchmark.pedantic(_runner(kind), rounds=10, iterations=1, warmup_rounds=2)
    assert value == value


@pytest.mark.benchmark(group="shared-deltas-batch8")
@pytest.mark.parametrize("kind", ["shared_now", "shared_before"])
def test_shared(benchmark, kind: str) -> None:
    value = benchmark.pedantic(_runner(kind), rounds=10, iterations=1, warmup_rounds=2)
    assert value == value
