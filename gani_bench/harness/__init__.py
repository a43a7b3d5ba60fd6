"""The benchmark harness: datasets, image loading, the resumable result store, the run loop,
distributed sharding and the reference check. The Python API is :mod:`gani_bench.api`."""
