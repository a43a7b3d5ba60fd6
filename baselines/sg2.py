"""SG2 W and W+ optimisation: the StyleGAN2 projector as inversion baselines.

Both are the projection embedding stages of :mod:`gani_bench.methods.projection_embedding`
(NVIDIA stylegan2-ada-pytorch ``projector.py`` schedule) run on their own. Differences from
the project's specification (its development notes), on purpose:

* peak learning rate 0.1, the value in NVIDIA's code (``initial_learning_rate=0.1``); the
  specification's 0.01 is the value in PTI's copy of the projector;
* W+ (one w per style input, 2000 steps) is not in NVIDIA's script: it is the same schedule
  with a [num_ws, w_dim] latent, as in HyperStyle's "SG2 W+" row;
* the optimised noise maps are returned with the result and used for the reconstruction
  (``keep_noise``): the StyleGAN2 paper optimises them as part of the projection, while
  NVIDIA's script drops them (it projects with a deep copy of G and re-renders with the
  original constant noise). ``keep_noise=false`` reproduces the script.

As embeddings they also start refinements: ``sg2_w+pti``, ``sg2_wplus+gani`` (docs/methods.md).
"""
from __future__ import annotations

from gani_bench.methods.compose import embedding_method
from gani_bench.methods.projection_embedding import SG2Config, SG2WEmbedding, SG2WPlusConfig, SG2WPlusEmbedding

SG2W = embedding_method(SG2WEmbedding)
SG2WPlus = embedding_method(SG2WPlusEmbedding)

__all__ = ["SG2W", "SG2WPlus", "SG2Config", "SG2WPlusConfig"]
