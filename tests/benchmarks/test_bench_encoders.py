"""Encoder speed on the CPU at the authors' 1024 px layout (IR-SE50, 18 styles, 256 px input).

Run: ``pytest tests/benchmarks/test_bench_encoders.py --benchmark-only`` (skipped in the normal
run). Weights are random (speed does not depend on them). ``forward``: seconds per image at
batch 1 (ReStyle: one pass of the 6-channel encoder; multiply by the iterations and add one
1024 px render per iteration for the full ReStyle inference). ``train step``: one e4e step as
``gani-bench train`` runs it (critic step, encoder forward, 1024 px config-f synthesis,
L2 loss, backward, Ranger step) at batch 2, LPIPS/ID off so no weights are needed. Threads:
``GANI_BENCH_THREADS`` (default 1).
"""
from __future__ import annotations

import os

import pytest
import torch

from gani_bench.encoders import InversionEncoder, authors_config
from gani_bench.encoders.training.config import preset
from gani_bench.encoders.training.data import ImageSource
from gani_bench.encoders.training.trainer import EncoderTrainer
from gani_bench.stylegan2 import Generator

pytestmark = pytest.mark.benchmark


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("GANI_BENCH_THREADS", "1")))
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("kind", ["psp", "e4e", "restyle_psp", "restyle_e4e", "w_encoder"])
def test_encoder_forward_per_image(benchmark, kind):
    enc = InversionEncoder(authors_config(kind)).eval()
    x = torch.rand(1, enc.config.input_nc, 256, 256) * 2 - 1
    with torch.no_grad():
        out = benchmark.pedantic(lambda: enc.encoder(x), rounds=3, warmup_rounds=1)
    assert out.shape == (1, 18, 512)


def test_e4e_train_step_1024(benchmark, tmp_path):
    G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3, mapping_kwargs=dict(num_layers=8),
                  synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=0, conv_clamp=None))
    G = G.eval().requires_grad_(False)
    cfg = preset("paper", "e4e").with_(batch_size=2, lpips_weight=0.0, id_weight=0.0)
    enc_cfg = authors_config("e4e")
    trainer = EncoderTrainer(G, "random-config-f-1024", enc_cfg, cfg, ImageSource(256, G=G, synthetic=16), tmp_path)
    trainer.train_step()  # warm-up
    benchmark.pedantic(trainer.train_step, rounds=2, warmup_rounds=0)
    assert trainer.step_count == 3
