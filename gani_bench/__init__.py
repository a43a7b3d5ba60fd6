"""gani-bench: GaNI and GAN-inversion baselines on StyleGAN2, benchmarked fairly."""
__version__ = "0.1.0"
