"""Running under ``torchrun``: which rank this process is, its device, and reductions across ranks.

torch.distributed does the work (process group from torchrun's environment, DistributedDataParallel for
the gradients); this module only decides the backend and device and hides the one-process case.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .model import default_device


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over every rank (itself in one process)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


@contextlib.contextmanager
def ranks_from_environment():
    """Under torchrun, join its process group for the duration (nccl on GPUs, gloo on the CPU) with the
    rank and device it assigned; otherwise one process on the default device."""
    if dist.is_initialized():  # a caller set the group up: train within it, and leave it to the caller
        yield Ranks(dist.get_rank(), dist.get_world_size(), _rank_device())
        return
    if not dist.is_torchelastic_launched():
        yield Ranks(device=default_device())
        return
    device = _rank_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size(), device)
    finally:
        dist.destroy_process_group()


def _rank_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", dist.get_node_local_rank(fallback_rank=0))
    return torch.device("cpu")
