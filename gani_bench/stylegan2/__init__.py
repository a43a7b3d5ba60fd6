"""StyleGAN2 generator (NVIDIA-compatible), functional weight deltas, embedded default network."""
from .networks import (
    Generator,
    MappingNetwork,
    SynthesisBlock,
    SynthesisLayer,
    SynthesisNetwork,
    ToRGBLayer,
)

__all__ = ["Generator", "MappingNetwork", "SynthesisBlock", "SynthesisLayer", "SynthesisNetwork", "ToRGBLayer"]
