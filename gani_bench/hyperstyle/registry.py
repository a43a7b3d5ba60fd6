"""Named demo HyperStyles shipped inside the package (small layouts for ``embedded-64``).

Trained by gani-bench's own ``gani-bench train hyperstyle`` with a fixed seed on images the
embedded generator renders, on top of the demo W-encoder; the exact command is each entry's
``command`` (and docs/hyperstyle.md). Stored in the authors' file layout without a decoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.abc import Traversable
from typing import Tuple, Union

import torch

from ..registry import Registry
from ..shipped import shipped_file, shipped_resource

Device = Union[str, torch.device]


@dataclass(frozen=True)
class DemoHyperStyle:
    name: str
    generator: str
    w_encoder: str
    file: str
    command: str
    description: str

    def path(self) -> Traversable:
        return shipped_resource("gani_bench.hyperstyle", self.file)

    def load(self, device: Device = "cpu") -> Tuple["HyperStyle", "HyperStyleInfo"]:  # noqa: F821
        from ..generators import load_named_generator
        from .loading import read_hyperstyle_file

        with shipped_file("gani_bench.hyperstyle", self.file, what=f"demo HyperStyle {self.name!r}", command=self.command) as p:
            model, info = read_hyperstyle_file(p, device, source=self.name)
        G, g_info = load_named_generator(self.generator, device)
        model.fit(G, self.generator)
        info.generator, info.generator_info = G, g_info
        return model, info


DEMO_HYPERSTYLES: Registry[DemoHyperStyle] = Registry("demo HyperStyle")

DEMO_COMMAND = ("OMP_NUM_THREADS=2 gani-bench train hyperstyle --generator embedded-64 --w-encoder embedded-64-w_encoder "
                "--synthetic 1024 --preset fast --steps {steps} --seed 0 --out runs/demo-hyperstyle "
                "--export embedded-64-hyperstyle.pt")
DEMO_STEPS = 3000

DEMO_HYPERSTYLES.add("embedded-64-hyperstyle", DemoHyperStyle(
    name="embedded-64-hyperstyle", generator="embedded-64", w_encoder="embedded-64-w_encoder",
    file="embedded-64-hyperstyle.pt", command=DEMO_COMMAND.format(steps=DEMO_STEPS),
    description="small HyperStyle for the embedded 64 px generator (trained on its own renders, demo W-encoder)"))

__all__ = ["DemoHyperStyle", "DEMO_HYPERSTYLES", "DEMO_COMMAND", "DEMO_STEPS"]
