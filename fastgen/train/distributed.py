"""torch.distributed for training: which process this is, and the few collectives the trainer needs.

A run started by ``torchrun`` finds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in its environment; ``setup()`` joins the process group from them (gloo on CPU,
NCCL on CUDA with one GPU per ``LOCAL_RANK``). A plain ``python -m fastgen`` process has none of
them: ``setup()`` does nothing, every function below answers as for a world of one process, and
no collective is ever called, so a single process runs exactly as it would without this module.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = [
    "all_reduce_sum",
    "any_rank",
    "barrier",
    "broadcast_object",
    "is_distributed",
    "is_main",
    "launched_by_torchrun",
    "local_rank",
    "rank",
    "setup",
    "teardown",
    "world_size",
]


def launched_by_torchrun() -> bool:
    """True when the environment names a process group to join (torchrun, or srun setting the same)."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def is_distributed() -> bool:
    """True inside an initialised process group (of any size)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's ``LOCAL_RANK``): which GPU it drives."""
    return int(os.environ.get("LOCAL_RANK", 0)) if is_distributed() else 0


def is_main() -> bool:
    """Rank 0: the one process that writes files and shows progress."""
    return rank() == 0


def setup(device: str | torch.device = "cpu") -> torch.device:
    """Join torchrun's process group if launched by it, and return this process's device.

    ``device`` is the user's choice (``cpu`` or ``cuda``); under torchrun ``cuda`` becomes
    ``cuda:LOCAL_RANK`` and the backend is NCCL, otherwise gloo. An explicit ``cuda:K`` is refused
    under torchrun, since every rank would share GPU K. Without torchrun, ``device`` is returned
    as it is and no group is created.
    """
    device = torch.device(device)
    if not launched_by_torchrun() or is_distributed():
        return _local_device(device) if is_distributed() else device
    if device.type == "cuda":
        if device.index is not None:
            raise ValueError(
                f"--device {device} under torchrun: pass plain 'cuda' (each rank takes the GPU of its LOCAL_RANK)"
            )
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _local_device(device)


def _local_device(device: torch.device) -> torch.device:
    return torch.device("cuda", local_rank()) if device.type == "cuda" else device


def teardown() -> None:
    """Leave the process group (a no-op outside one)."""
    if is_distributed():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """Where a collective's tensor must live: NCCL reduces CUDA tensors, gloo CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is true on at least one (an all-reduce MAX); ``flag`` itself
    when not distributed. Every rank must call it at the same point."""
    if not is_distributed():
        return bool(flag)
    value = torch.tensor([int(bool(flag))], device=_collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sums of ``values`` over the ranks (``values`` itself when not distributed)."""
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_object(value):
    """Rank 0's ``value`` on every rank (``value`` itself when not distributed)."""
    if not is_distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    """Wait for every rank (a no-op when not distributed)."""
    if is_distributed():
        dist.barrier()
