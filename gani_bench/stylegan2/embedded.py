"""The embedded default generator: a small, seeded, UNTRAINED StyleGAN2 at 64 px.

Why it exists: tests, demos and CI must run the whole pipeline (projection, PTI, GaNI,
metrics, reports) offline and fast, without downloading a 1024 px FFHQ checkpoint. This
network has exactly the StyleGAN2 architecture (mapping, modulated convs, FIR up-sampling,
skip ToRGB, conv_clamp) at 64 px with narrow channels, and weights drawn with NVIDIA's
initialisation from a private ``torch.Generator`` seeded by ``seed``.

It is NOT a trained GAN: its images are structured noise, not faces. Numbers obtained with it
measure the machinery (does the optimisation reduce the loss, do the deltas apply), never
image quality. ``w_avg`` is set to the mean of ``mapping(z)`` over 10,000 seeded z, as
training would have tracked it, so truncation and projection that start at ``w_avg`` behave
as they do on a trained network.

One step goes beyond NVIDIA's initialisation: the output layer is calibrated. With NVIDIA's
init the untrained images have a per-channel offset and a standard deviation near 1.8, so most
pixels would sit far outside [-1, 1] and clip when saved; targets, reconstructions and the
LPIPS/MS-SSIM inputs would then live in a range no trained generator produces. We therefore
scale every ToRGB weight by one factor and shift the last ToRGB bias so that images of random
z have per-channel mean 0 and standard deviation :data:`OUTPUT_STD` (natural images mapped to
[-1, 1] have about that spread). Both changes are a choice of initial weights, not of
architecture: the network still loads into NVIDIA's code unchanged.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Union

import torch

from .networks import Generator

#: Constructor arguments of the embedded generator (NVIDIA ``Generator`` signature).
EMBEDDED_KWARGS: Dict[str, Any] = dict(
    z_dim=128,
    c_dim=0,
    w_dim=128,
    img_resolution=64,
    img_channels=3,
    mapping_kwargs=dict(num_layers=8),
    synthesis_kwargs=dict(channel_base=4096, channel_max=128, conv_clamp=256, architecture="skip", num_fp16_res=0),
)

#: how many z samples estimate w_avg (NVIDIA's projector uses the same count)
W_AVG_SAMPLES = 10_000
#: standard deviation of the calibrated output images (see the module docstring)
OUTPUT_STD = 0.5
#: how many z samples estimate the output statistics for the calibration
CALIBRATION_SAMPLES = 256


@torch.no_grad()
def build_embedded_generator(seed: int = 0, device: Union[str, torch.device] = "cpu") -> Generator:
    """Build the embedded generator deterministically from ``seed`` (global RNG untouched).

    Same seed -> bit-identical parameters, buffers and ``w_avg`` on the same platform.
    Returned like every loaded checkpoint (``checkpoints.state``): eval mode and
    ``requires_grad=False``, since methods tune weight *deltas*, never the network itself.
    """
    with torch.random.fork_rng(devices=[]):  # the constructor's own draws must not leak out
        G = Generator(**copy.deepcopy(EMBEDDED_KWARGS))
    gen = torch.Generator().manual_seed(int(seed))
    G.reset_parameters(gen)
    z = torch.randn([W_AVG_SAMPLES, G.z_dim], generator=gen)
    w_sum = torch.zeros([G.w_dim], dtype=torch.float64)
    for chunk in z.split(2000):
        w = G.mapping(chunk, None)[:, 0]
        w_sum += w.to(torch.float64).sum(dim=0)
    G.mapping.w_avg.copy_((w_sum / W_AVG_SAMPLES).to(torch.float32))
    _calibrate_output(G, gen)
    return G.eval().requires_grad_(False).to(device)


@torch.no_grad()
def _calibrate_output(G: Generator, gen: torch.Generator) -> None:
    """Scale all ToRGB weights and shift the last ToRGB bias: images get mean 0, std OUTPUT_STD.

    Exact because the skip-architecture image is a sum of up-sampled ToRGB outputs, each linear
    in its weight (biases start at 0), and the FIR up-sampling preserves constants.
    """
    z = torch.randn([CALIBRATION_SAMPLES, G.z_dim], generator=gen)
    images = G.synthesis(G.mapping(z, None), noise_mode="const")
    scale = OUTPUT_STD / float(images.std())
    channel_mean = images.mean(dim=(0, 2, 3))
    blocks = [getattr(G.synthesis, f"b{res}") for res in G.synthesis.block_resolutions]
    for block in blocks:
        block.torgb.weight.mul_(scale)
    blocks[-1].torgb.bias.sub_(channel_mean * scale)


__all__ = ["CALIBRATION_SAMPLES", "EMBEDDED_KWARGS", "OUTPUT_STD", "W_AVG_SAMPLES", "build_embedded_generator"]
