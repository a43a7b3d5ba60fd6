"""Seeded weights and inputs for the HyperStyle faithfulness test (also used, unchanged, by the
scratch script that ran the authors' classes to make the committed reference).

The 1024 px hypernetwork has about 290 M parameters (1.2 GB), too large to commit; instead the
test regenerates the very same weights from a seed, in the key order of the authors' state
dict (committed in ``tests/data/hyperstyle_ref/keys.json``), and compares compact fingerprints
of the offsets (a seeded sample of elements, the sum, the sum of |.| and the sum of squares of
each layer's offset) with the ones the authors' code produced from those weights.
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, Sequence, Tuple

import torch

SEED = 20220607
N_SAMPLE = 2000
_SHARED_COPY = re.compile(r"refinement_blocks\.\d+\.hypernet\.(w1|b1|w2|b2)$")


def seeded_state(keys: Sequence[Tuple[str, Sequence[int]]], seed: int = SEED) -> Dict[str, torch.Tensor]:
    """A plausible state dict (finite activations, positive BN variances) from one generator.

    The shared hypernet's copies inside each ``HyperRefinementBlock`` reuse the
    ``shared_weight_hypernet`` tensors, as a trained model's do.
    """
    g = torch.Generator().manual_seed(seed)
    out: Dict[str, torch.Tensor] = {}
    for key, shape in keys:
        m = _SHARED_COPY.search(key)
        if m:
            out[key] = out[f"shared_weight_hypernet.{m.group(1)}"]
            continue
        shape = list(shape)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            t = torch.zeros(shape, dtype=torch.long)
        elif leaf == "running_var":
            t = 0.5 + torch.rand(shape, generator=g)
        elif leaf == "running_mean":
            t = 0.1 * torch.randn(shape, generator=g)
        elif leaf in ("w1", "w2", "b1", "b2"):
            t = torch.randn(shape, generator=g) / 40
        elif key.endswith("relu.weight"):
            t = 0.25 + 0.01 * torch.randn(shape, generator=g)
        elif len(shape) == 1 and re.search(r"(bn\d|downsample\.1)\.weight$", key):
            t = 1 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            t = 0.05 * torch.randn(shape, generator=g)
        elif key.endswith("linear.weight"):
            t = torch.randn(shape, generator=g)  # EqualLinear scales by 1/sqrt(in) itself
        else:
            t = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        out[key] = t
    return out


def seeded_input(n: int = 2, size: int = 256, seed: int = SEED + 1) -> torch.Tensor:
    """[n, 6, size, size] in [-1, 1]: image and reconstruction channels."""
    return torch.rand(n, 6, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def fingerprint(offset: torch.Tensor, seed: int) -> Dict[str, object]:
    """Seeded sample of N_SAMPLE elements plus sum, sum |.| and sum of squares (float64)."""
    flat = offset.detach().reshape(-1).to(torch.float64)
    idx = torch.randint(0, flat.numel(), (N_SAMPLE,), generator=torch.Generator().manual_seed(seed))
    return {"shape": list(offset.shape), "index_seed": seed, "sample": [float(f"{v:.8g}") for v in flat[idx].tolist()],
            "sum": float(flat.sum()), "abs_sum": float(flat.abs().sum()), "sq_sum": float(flat.square().sum())}


def compare(ours: torch.Tensor, ref: Dict[str, object], rtol: float = 1e-4) -> List[str]:
    """Differences beyond ``rtol`` (relative to the layer's scale), as readable lines."""
    problems = []
    if list(ours.shape) != list(ref["shape"]):  # type: ignore[arg-type]
        return [f"shape {list(ours.shape)} != {ref['shape']}"]
    flat = ours.detach().reshape(-1).to(torch.float64)
    idx = torch.randint(0, flat.numel(), (N_SAMPLE,), generator=torch.Generator().manual_seed(int(ref["index_seed"])))  # type: ignore[arg-type]
    sample = torch.tensor(ref["sample"], dtype=torch.float64)
    scale = float(sample.abs().max())
    gap = float((flat[idx] - sample).abs().max())
    if gap > rtol * scale:
        problems.append(f"sample max gap {gap:.3g} > {rtol} x {scale:.3g}")
    if abs(float(flat.sum()) - float(ref["sum"])) > rtol * float(ref["abs_sum"]):  # type: ignore[arg-type]
        problems.append(f"sum {float(flat.sum()):.6g} vs {ref['sum']:.6g}")
    for name, val in (("abs_sum", float(flat.abs().sum())), ("sq_sum", float(flat.square().sum()))):
        if abs(val - float(ref[name])) > rtol * abs(float(ref[name])):  # type: ignore[arg-type]
            problems.append(f"{name} {val:.6g} vs {ref[name]:.6g}")
    return problems
