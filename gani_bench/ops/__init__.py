"""Custom ops of StyleGAN2: FIR resampling (upfirdn2d) and fused bias + activation (bias_act).

Each op has a pure-PyTorch reference path (CPU and GPU, differentiable) and an optional fused
CUDA kernel that is JIT-built with ninja on first use for CUDA inputs. Pick with ``impl``:
``'auto'`` (default), ``'ref'`` or ``'cuda'``; ``GANI_BENCH_OPS=ref`` forces the reference path.
"""
from .bias_act import ACTIVATIONS, ActivationSpec, activation_gain, bias_act, bias_act_ref
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upfirdn2d_ref, upsample2d

__all__ = [
    "ACTIVATIONS", "ActivationSpec", "activation_gain", "bias_act", "bias_act_ref",
    "downsample2d", "filter2d", "setup_filter", "upfirdn2d", "upfirdn2d_ref", "upsample2d",
]
