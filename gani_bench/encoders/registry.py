"""Named demo encoders: small encoders for ``embedded-64`` shipped inside the package.

They were trained by gani-bench's own ``gani-bench train`` command with a fixed seed (the exact
command lines are in docs/encoders.md and in each entry's ``command``) and are stored in the
authors' file layout without a decoder; the generator they belong to is a registered name, so
``load_encoder("embedded-64-e4e")`` returns that generator in ``EncoderInfo.generator`` too.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Tuple, Union

import torch

from ..registry import Registry
from ..generators import load_named_generator
from ..shipped import shipped_file, shipped_resource

if TYPE_CHECKING:
    from .loading import EncoderInfo
    from .model import InversionEncoder

Device = Union[str, torch.device]


@dataclass(frozen=True)
class DemoEncoder:
    name: str
    kind: str
    generator: str
    file: str
    command: str
    description: str

    def path(self) -> Traversable:
        return shipped_resource("gani_bench.encoders", self.file)

    def load(self, device: Device = "cpu") -> Tuple["InversionEncoder", "EncoderInfo"]:
        from .loading import check_encoder_generator, read_encoder_file

        with shipped_file("gani_bench.encoders", self.file, what=f"demo encoder {self.name!r}", command=self.command) as p:
            model, info = read_encoder_file(p, device, source=self.name)
        G, g_info = load_named_generator(self.generator, device)
        check_encoder_generator(info, G, self.generator)
        info.generator, info.generator_info = G, g_info
        return model, info


DEMO_ENCODERS: Registry[DemoEncoder] = Registry("demo encoder")

_CMD = ("OMP_NUM_THREADS=1 gani-bench train {kind} --generator embedded-64 --synthetic 2048 --preset fast "
        "--steps {steps} --seed 0 --out runs/demo-{kind}")
#: (kind, training steps) of the shipped demo encoders
DEMO_PLAN = (("e4e", 1000), ("psp", 600), ("restyle_e4e", 500), ("w_encoder", 1500))

for _kind, _steps in DEMO_PLAN:
    DEMO_ENCODERS.add(f"embedded-64-{_kind}", DemoEncoder(
        name=f"embedded-64-{_kind}", kind=_kind, generator="embedded-64", file=f"embedded-64-{_kind}.pt",
        command=_CMD.format(kind=_kind, steps=_steps),
        description=f"small {_kind} encoder for the embedded 64 px generator (trained on its own renders)"))
