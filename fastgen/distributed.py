"""torch.distributed for fastgen: joining the process group, which process this is, the collectives
and the sharding that training (``fastgen.train``) and the metrics (``fastgen fid``, ``fastgen stats``,
``FeatureStats.all_reduce``) use. Nothing else in fastgen calls ``torch.distributed`` itself.

A process started by ``torchrun`` finds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in its environment; ``setup()`` joins the process group from them with one rule for
every command (the device rule, below): gloo on CPU, NCCL on CUDA with one GPU per ``LOCAL_RANK``.
A plain ``python -m fastgen`` process has none of them: ``setup()`` creates nothing, every function
below answers as for a world of one process, and no collective is ever called, so a single process
runs exactly as it would without this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "ReplicatedNetworks",
    "all_reduce_",
    "all_reduce_sum",
    "barrier",
    "broadcast_buffers",
    "broadcast_object",
    "collective_device",
    "contiguous_share",
    "default_device",
    "gather_objects",
    "gather_rows",
    "is_distributed",
    "is_main",
    "launched_by_torchrun",
    "local_rank",
    "process_group",
    "rank",
    "share",
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


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible, else ``cpu``: the device of a command given none."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup(device: str | torch.device | None = None) -> torch.device:
    """Join torchrun's process group if launched by it, and return this process's device.

    The device rule, the same for training and the metrics: ``device`` is the user's choice
    (``None``: :func:`default_device`); under torchrun ``cuda`` becomes ``cuda:LOCAL_RANK`` and the
    backend is NCCL, otherwise gloo. An explicit ``cuda:K`` is refused under torchrun, since every
    rank would share GPU K. Without torchrun, ``device`` is returned as it is and no group is
    created. Inside a group that exists already (a Python user's own), it joins nothing and takes
    ``device`` as given (plain ``cuda``: the GPU of ``LOCAL_RANK``).
    """
    device = default_device() if device is None else torch.device(device)
    if is_distributed():
        return device if device.index is not None else _local_device(device)
    if not launched_by_torchrun():
        return device
    if device.type == "cuda":
        if device.index is not None:
            raise ValueError(f"{device} under torchrun: pass plain 'cuda' (each rank takes the GPU of its LOCAL_RANK)")
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise ValueError(
                f"cuda: this process has LOCAL_RANK {local} but the machine shows {torch.cuda.device_count()} "
                "GPUs (torchrun --nproc-per-node at most the GPU count)"
            )
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _local_device(device)


@contextmanager
def process_group(device: str | torch.device | None = None) -> Iterator[torch.device]:
    """``setup(device)`` for the block; the group is left at its end if this block created it."""
    created = not is_distributed()
    device = setup(device)
    try:
        yield device
    finally:
        if created:
            teardown()


def _local_device(device: torch.device) -> torch.device:
    return torch.device("cuda", local_rank()) if device.type == "cuda" else device


def teardown() -> None:
    """Leave the process group (a no-op outside one)."""
    if is_distributed():
        dist.destroy_process_group()


def collective_device(group=None) -> torch.device:
    """Where a collective's tensors must live: NCCL reduces CUDA tensors, gloo (and no group) CPU ones."""
    if is_distributed() and dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sums of ``values`` over the ranks (``values`` itself when not distributed)."""
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=collective_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_reduce_(tensor: torch.Tensor, group=None) -> torch.Tensor:
    """Sum ``tensor`` over the ranks of ``group`` in place (nothing when not distributed); returns it."""
    if is_distributed():
        dist.all_reduce(tensor, group=group)
    return tensor


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


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm's running statistics); a no-op when not distributed."""
    if is_distributed():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """The rows ``[n_r, ...]`` of every rank concatenated in rank order, on every rank (on the CPU).

    For small results (samples' logits, 2-D points); ``rows`` itself when not distributed.
    """
    if not is_distributed():
        return rows
    return torch.cat(gather_objects(rows.cpu()))


def gather_objects(value) -> list:
    """Every rank's ``value`` (picklable), in rank order, on every rank (``[value]`` when not distributed)."""
    if not is_distributed():
        return [value]
    values: list = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def share(count: int) -> int:
    """This rank's part of ``count`` items split as evenly as possible (the first ranks take one more)."""
    return count // world_size() + (rank() < count % world_size())


def contiguous_share(items: Sequence) -> Sequence:
    """This rank's contiguous slice of ``items`` (rank r of W takes ``items[r N // W : (r + 1) N // W]``)."""
    r, w = rank(), world_size()
    return items[r * len(items) // w : (r + 1) * len(items) // w]


class ReplicatedNetworks:
    """A model's networks under ``DistributedDataParallel``, swapped in while a training step runs.

    fastgen's models own their training step (a GAN's takes two backward passes, one per
    network), so DDP cannot wrap the model as a whole: it wraps each child network that holds
    trainable parameters (a GAN's generator and discriminator, a VAE's encoder and decoder).
    ``active()`` puts the wrappers in place of the children for one step, so every forward the
    step runs goes through DDP and its backward all-reduces (averages) the gradients; outside it
    the model is its plain self, so checkpoints hold unwrapped state dicts and rank 0's sampling
    and evaluation run no collective. Parameters the model holds directly (the DAE's tied
    weights, a Gaussian VAE's scale) are used without any child's forward, which DDP needs to
    see; their gradients are averaged by one all-reduce just before each optimizer step (what
    DDP computes, without its overlap with the backward pass).

    Buffers are not synchronised at each forward (``forward_sync_buffers=False``): that in-place copy
    would clobber BatchNorm statistics saved for the backward of a network run twice per step
    (a discriminator on real then generated images). Training-mode BatchNorm normalises with the
    batch's statistics, so the running statistics never feed back into training; they are made
    rank 0's before each evaluation (``broadcast_buffers``), or kept equal throughout by
    ``sync_bn`` (``SyncBatchNorm``: batch statistics over all ranks' batches; CUDA only).
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, *, sync_bn: bool = False):
        if sync_bn:
            if device.type != "cuda":
                raise ValueError("sync_bn needs CUDA: SyncBatchNorm synchronises batches on GPUs only")
            for name, child in list(model.named_children()):
                setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
        if device.type == "cuda" and device.index is None:  # plain "cuda": the current GPU, as torch means it
            device = torch.device("cuda", torch.cuda.current_device())
        device_ids = [device.index] if device.type == "cuda" else None
        self.model = model
        self.wrappers = {
            name: DistributedDataParallel(child, device_ids=device_ids, forward_sync_buffers=False)
            for name, child in model.named_children()
            if any(p.requires_grad for p in child.parameters())
        }
        self.direct = [p for p in model.parameters(recurse=False) if p.requires_grad]
        for parameter in self.direct:  # DDP makes its children's start equal; do the same for these
            dist.broadcast(parameter.data, src=0)

    @contextmanager
    def active(self):
        children = {name: getattr(self.model, name) for name in self.wrappers}
        for name, wrapper in self.wrappers.items():
            setattr(self.model, name, wrapper)
        try:
            yield
        finally:
            for name, child in children.items():
                setattr(self.model, name, child)

    def watch(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Average the gradients of the model's own parameters before each step of ``optimizers``."""
        direct = {id(p) for p in self.direct}
        for optimizer in optimizers.values():
            mine = [p for group in optimizer.param_groups for p in group["params"] if id(p) in direct]
            if mine:
                optimizer.register_step_pre_hook(lambda optimizer, args, kwargs, mine=mine: _average_gradients(mine))


def _average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    with_grad = [p for p in parameters if p.grad is not None]
    if not with_grad:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in with_grad])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for parameter in with_grad:
        count = parameter.grad.numel()
        parameter.grad.copy_(flat[offset : offset + count].view_as(parameter.grad))
        offset += count
