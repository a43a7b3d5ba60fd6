"""Generator forward+backward on the CPU: ours vs NVIDIA's stylegan2-ada-pytorch, same weights.

Run: ``GANI_BENCH_NVIDIA_SRC=/path/to/stylegan2-ada-pytorch pytest
tests/benchmarks/test_bench_generator.py --benchmark-only -p no:randomly`` (skipped in the
normal run). Without ``GANI_BENCH_NVIDIA_SRC`` only our side runs. One step is what PTI and
GaNI repeat hundreds of times per image: ``G.synthesis(ws)`` at batch 1, constant noise, then
the backward pass to ``ws`` and every synthesis parameter. Both networks are built from the
same kwargs (NVIDIA-style channel_base 16384 / 8192 with channel_max 256, narrower than the
FFHQ models to keep a round short on a small CPU) and share one state dict, so the numbers compare
implementations, not architectures. Both sides run in one process and one pytest run, so the
ratio in the group table is measured under the same load. Threads: ``GANI_BENCH_THREADS``
(default 1; more threads on a machine shared with other jobs gave erratic timings).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict

import pytest
import torch

from gani_bench.stylegan2 import Generator

CONFIGS: Dict[int, Dict[str, Any]] = {
    64: dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=64, img_channels=3, mapping_kwargs=dict(num_layers=2),
             synthesis_kwargs=dict(channel_base=16384, channel_max=256, conv_clamp=256)),
    256: dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3, mapping_kwargs=dict(num_layers=2),
              synthesis_kwargs=dict(channel_base=8192, channel_max=256, conv_clamp=256)),
}


def _nvidia_generator_class() -> type:
    src = os.environ.get("GANI_BENCH_NVIDIA_SRC")
    if not src or not os.path.isdir(os.path.join(src, "training")):
        pytest.skip("set GANI_BENCH_NVIDIA_SRC to a stylegan2-ada-pytorch checkout to benchmark NVIDIA's generator")
    if src not in sys.path:
        sys.path.insert(0, src)
    from training.networks import Generator as NvidiaGenerator  # type: ignore

    return NvidiaGenerator


def _step(G: torch.nn.Module, ws: torch.Tensor) -> Callable[[], float]:
    params = [p for p in G.synthesis.parameters()]

    def run() -> float:
        w = ws.detach().requires_grad_(True)
        img = G.synthesis(w, noise_mode="const")
        loss = img.square().mean()
        grads = torch.autograd.grad(loss, [w] + params)
        return float(loss.detach()) + float(grads[0].abs().sum())

    return run


def _make(impl: str, res: int) -> tuple:
    torch.manual_seed(0)
    ours = Generator(**CONFIGS[res]).eval()
    if impl == "nvidia":
        G = _nvidia_generator_class()(**CONFIGS[res]).eval()
        G.load_state_dict(ours.state_dict(), strict=True)
    else:
        G = ours
    ws = ours.mapping(torch.randn(1, ours.z_dim, generator=torch.Generator().manual_seed(1)), None).detach()
    return G, ws


@pytest.mark.benchmark(group="generator-fwd-bwd-64px")
@pytest.mark.parametrize("impl", ["gani_bench", "nvidia"])
def test_generator_step_64(benchmark, impl: str) -> None:
    torch.set_num_threads(int(os.environ.get("GANI_BENCH_THREADS", "1")))
    G, ws = _make(impl, 64)
    benchmark.extra_info.update(resolution=64, impl=impl, threads=torch.get_num_threads())
    value = benchmark.pedantic(_step(G, ws), rounds=5, iterations=1, warmup_rounds=1)
    assert value == value  # finite loss (NaN != NaN)


@pytest.mark.benchmark(group="generator-fwd-bwd-256px")
@pytest.mark.parametrize("impl", ["gani_bench", "nvidia"])
def test_generator_step_256(benchmark, impl: str) -> None:
    torch.set_num_threads(int(os.environ.get("GANI_BENCH_THREADS", "1")))
    G, ws = _make(impl, 256)
    benchmark.extra_info.update(resolution=256, impl=impl, threads=torch.get_num_threads())
    value = benchmark.pedantic(_step(G, ws), rounds=3, iterations=1, warmup_rounds=1)
    assert value == value


def test_both_generators_agree_on_the_benchmarked_config() -> None:
    """The benchmark compares like with like: same image from the same weights (64 px)."""
    G, ws = _make("gani_bench", 64)
    N, _ = _make("nvidia", 64)
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const")
        b = N.synthesis(ws, noise_mode="const")
    assert float((a - b).abs().max()) < 1e-4 * max(1.0, float(b.abs().max()))
