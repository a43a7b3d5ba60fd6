"""What a run writes besides the store rows: edited renders, latents and weight deltas."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping

import torch


def render_edits(G: Any, result: Any, i: int, edits: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
    from ..stylegan2.functional import synthesize

    deltas = result.weight_deltas[i] if result.weight_deltas else None
    noise = {k: v[i : i + 1] for k, v in result.noise.items()} if result.noise else None
    latents = result.latents[i : i + 1]
    out = {}
    with torch.no_grad():
        for name, edit in edits.items():
            out[name] = synthesize(G, edit(latents), deltas=deltas, noise_mode="const", noise=noise)[0]
    return out


def save_deltas(folder: Path, image_id: str, result: Any, i: int, base_ref: Any, provenance: Dict[str, Any]) -> None:
    """Latents (``<id>.latents.safetensors``) and weight deltas (``<id>.deltas.safetensors``, the
    checkpoint module's format, tied to the base generator's fingerprint) of one image."""
    from safetensors.torch import save_file

    from ..checkpoints.native import save_weight_deltas

    folder.mkdir(parents=True, exist_ok=True)
    lat = folder / f"{image_id}.latents.safetensors"
    tmp = lat.with_name(lat.name + ".part")
    save_file({"latents": result.latents[i].detach().float().cpu().contiguous()}, str(tmp),
              metadata={"latent_space": str(result.latent_space)})
    tmp.replace(lat)
    if result.weight_deltas:
        out = folder / f"{image_id}.deltas.safetensors"
        tmp = out.with_name(out.name + ".part")
        deltas = {k: v.detach().cpu().contiguous() for k, v in result.weight_deltas[i].items()}
        save_weight_deltas(deltas, tmp, base_ref, info={**provenance, "image_id": image_id})
        tmp.replace(out)


def base_ref(G: Any, ginfo: Any, gen_name: str) -> Any:
    """What weight deltas are tied to: the loader's GeneratorInfo, else name + tensor fingerprint."""
    if ginfo is not None:
        return ginfo
    from ..checkpoints.state import state_fingerprint

    return {"name": gen_name, "fingerprint": state_fingerprint(G)}
