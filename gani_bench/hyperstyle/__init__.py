"""HyperStyle (Alaluf et al., CVPR 2022): a hypernetwork that turns one image into per-sample
multiplicative offsets of the generator's conv weights, refined over a few iterations.

Public API::

    from gani_bench.hyperstyle import load_hyperstyle, offsets_to_weight_deltas
    hs, info = load_hyperstyle("hyperstyle-ffhq", w_encoder="faces_w_encoder.pt")  # or a path / demo name
    offsets = hs.offsets(x, y_hat)                  # {param name: [N, out, in, k, k]}
    images, offsets, history = hs.invert(G, targets, latents, n_iters=5)
    deltas = offsets_to_weight_deltas(G, offsets)   # per image, additive (InversionResult.weight_deltas)

See docs/hyperstyle.md (what is the authors', what is ours; training; the demo model).
"""
from .config import HyperNetConfig, authors_config, config_for_generator
from .loading import HyperStyleInfo, load_hyperstyle, read_hyperstyle_file, save_hyperstyle
from .model import HyperStyle, HyperStyleInversion, default_layer_names, offsets_to_weight_deltas
from .network import SharedWeightsHypernet, SharedWeightsHyperNetResNet
from .registry import DEMO_HYPERSTYLES

__all__ = [
    "HyperNetConfig", "authors_config", "config_for_generator", "HyperStyleInfo", "load_hyperstyle",
    "read_hyperstyle_file", "save_hyperstyle", "HyperStyle", "HyperStyleInversion", "default_layer_names",
    "offsets_to_weight_deltas", "SharedWeightsHypernet", "SharedWeightsHyperNetResNet", "DEMO_HYPERSTYLES",
]
