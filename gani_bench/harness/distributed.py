"""Sharding a run across processes with ``torch.distributed`` (``torchrun --nproc-per-node N``).

The design keeps ranks independent: rank ``r`` of ``W`` takes images ``r::W`` of the (resume-
filtered) image list, writes its own store part, and the only collective is one barrier at the
end before rank 0 writes the report. So a rank that dies loses only the image it was working on;
re-running the same command (any world size) resumes from the union of all parts. gloo is used on
CPU, nccl on CUDA.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import List, Sequence, TypeVar

import torch

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    #: True when this process initialised the process group (and must tear it down)
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_world() -> DistInfo:
    """Rank/world from the torchrun environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init(device_type: str, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group if the environment describes one (no-op for a single process)."""
    info = env_world()
    if info.world_size <= 1:
        return info
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank, owns_group=False)
    backend = "nccl" if device_type == "cuda" and dist.is_nccl_available() else "gloo"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank, owns_group=True)


def shard(items: Sequence[T], info: DistInfo) -> List[T]:
    """Rank r takes items r, r+W, r+2W, ...: balanced, and no coordination needed."""
    return list(items[info.rank :: info.world_size])


def barrier(info: DistInfo) -> bool:
    """Wait for every rank; returns False (and logs) if a rank died instead of hanging forever."""
    if not info.enabled:
        return True
    import torch.distributed as dist

    try:
        if dist.get_backend() == "gloo":
            # monitored_barrier names the rank that did not arrive
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=float(os.environ.get("GANI_BENCH_BARRIER_TIMEOUT", 1800))))
        else:
            dist.barrier()
        return True
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("rank %d: barrier failed (%s); the report covers the rows written so far", info.rank, first)
        return False


def shutdown(info: DistInfo) -> None:
    if info.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def device_for(device: str, info: DistInfo) -> torch.device:
    """Resolve ``auto|cpu|cuda|cuda:N``; under torchrun each rank gets ``cuda:LOCAL_RANK``."""
    from .devices import parse_device

    dev = parse_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", info.local_rank if info.enabled else 0)
    return dev
