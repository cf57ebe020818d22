"""Multi-process runs under ``torchrun``: process group from the environment, object collectives.

``torchrun --nproc-per-node N -m harness ...`` starts N processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and a rendezvous in the environment. :func:`init_from_env` joins them with the
device's backend (nccl on cuda, hccl on npu, gloo on cpu) and adds a gloo group for the small
Python-object messages the engine exchanges (finished ids, records), so those never touch
device memory. Every rank calls the same collectives in the same order, also with no samples.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

from harness.errors import HarnessError

log = logging.getLogger("harness.engine")

# Ranks meet at the end of each task; a slower rank may still be finishing its shard.
TIMEOUT = timedelta(hours=3)
_OBJECT_GROUP: Any = None


def _dist() -> ModuleType:
    """``torch.distributed``, imported on first use (a single-process run never imports torch)."""
    import torch.distributed

    return torch.distributed


def _joined() -> ModuleType | None:
    """``torch.distributed`` when this process has joined a process group, else None (without
    importing torch: no group can exist before torch is imported)."""
    d = sys.modules.get("torch.distributed")
    if d is None or not (d.is_available() and d.is_initialized()):
        return None
    return d


def env_ranks(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's variables; (0, 1, 0) outside torchrun.

    >>> env_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    (3, 4, 1)
    >>> env_ranks({})
    (0, 1, 0)
    """
    env = os.environ if env is None else env
    try:
        return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))
    except ValueError as exc:
        raise HarnessError(
            f"torchrun environment: RANK/WORLD_SIZE/LOCAL_RANK must be integers ({exc})"
        ) from None


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    group: Any = None  # the gloo group for object collectives

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        _dist().broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        _dist().all_gather_object(out, obj, group=self.group)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            _dist().barrier(group=self.group)


def init_from_env(backend: str) -> DistContext:
    """Join torchrun's process group (no-op for a single process) and return this rank's context."""
    global _OBJECT_GROUP
    _, world, local = env_ranks()
    if world <= 1:
        return DistContext()
    dist = _dist()
    if not dist.is_available():
        raise HarnessError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if backend in ("nccl", "hccl"):  # collectives of this rank run on its own device
        import torch

        getattr(torch, "cuda" if backend == "nccl" else "npu").set_device(local)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend, timeout=TIMEOUT)
        except Exception as exc:  # missing rendezvous variables, unreachable master, backend absent
            raise HarnessError(
                f"could not join the torchrun process group with backend {backend}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
    _OBJECT_GROUP = None if backend == "gloo" else dist.new_group(backend="gloo", timeout=TIMEOUT)
    ctx = context()
    log.info(
        "rank %d of %d (local rank %d), backend %s", ctx.rank, ctx.world, ctx.local_rank, backend
    )
    return ctx


def context() -> DistContext:
    """This process's place in the run: from the initialised process group, else single."""
    dist = _joined()
    if dist is None:
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), env_ranks()[2], _OBJECT_GROUP)


def shutdown() -> None:
    global _OBJECT_GROUP
    dist = _joined()
    if dist is not None:
        dist.destroy_process_group()
    _OBJECT_GROUP = None
