"""Face detection, alignment and identity embeddings for the ID-similarity metric.

``align`` (MTCNN + 5-point similarity warp), ``ir_resnet`` (ArcFace / CurricularFace networks),
``backends`` (the identity-backend registry). Nothing here loads weights at import time, so the
plugin loader can import it on a machine without any face weights.
"""
