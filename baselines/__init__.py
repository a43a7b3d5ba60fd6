"""Reimplemented baseline inversion methods, registered as method plugins.

This folder installs as ``gani_bench.baselines`` (see pyproject.toml ``package-dir``) so that a
non-editable install never claims the generic top-level module name ``baselines``.
"""
