"""Provenance stamped on every stored row: config hashes, package versions, git commit, device."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch


def config_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def package_versions() -> Dict[str, str]:
    import gani_bench

    return {"gani_bench": gani_bench.__version__, "torch": torch.__version__, "python": platform.python_version()}


def git_commit() -> Optional[str]:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu {platform.machine()} ({torch.get_num_threads()} threads)"
