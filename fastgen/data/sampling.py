"""The order in which training visits its items: one permutation per epoch, sharded over ranks.

Epoch ``e`` of a run seeded with ``s`` visits the items in the permutation ``shuffled_indices(N, s, e)``,
the same on every rank. With W ranks the permutation is cut to a multiple of W (at most W - 1 items
wait for the next epoch's order) and rank r takes every W-th item from position r, as
``torch.utils.data.DistributedSampler`` does: the shards are disjoint, equally long, and together
they are the (cut) permutation. With one rank the shard is the whole permutation, so a
single-process run visits exactly the order it visited before sharding existed.

Step ``t`` of a rank trains on the ``t``-th block of ``batch_size`` items of its shards laid end to end
(an epoch is ``len(shard) // batch_size`` steps, the last partial batch dropped), so the batch of
any step is known without replaying the run: a resumed run continues from its step, and
``StepBatchSampler`` hands a ``DataLoader`` the batches of a range of steps.
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler

__all__ = ["EPOCH_SEED_STRIDE", "ShardedSampler", "StepBatchSampler", "shuffled_indices"]

EPOCH_SEED_STRIDE = 1_000_003  # a prime, so (seed, epoch) pairs give distinct generator seeds


def shuffled_indices(num_items: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch ``epoch``: a permutation of ``num_items`` fixed by (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * EPOCH_SEED_STRIDE + epoch)
    return torch.randperm(num_items, generator=generator)


class ShardedSampler:
    """``sampler(epoch)``: the LongTensor of item indices rank ``rank`` of ``world_size`` visits in ``epoch``."""

    def __init__(self, num_items: int, seed: int, *, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if num_items < world_size:
            raise ValueError(f"{num_items} items cannot be shared among {world_size} processes")
        self.num_items, self.seed, self.rank, self.world_size = num_items, seed, rank, world_size

    def __len__(self) -> int:
        """Items per rank and epoch."""
        return self.num_items // self.world_size

    def __call__(self, epoch: int) -> torch.Tensor:
        order = shuffled_indices(self.num_items, self.seed, epoch)
        if self.world_size == 1:
            return order
        return order[: len(self) * self.world_size][self.rank :: self.world_size]


class StepBatchSampler(Sampler[list[int]]):
    """The index batches of steps ``start`` … ``stop - 1``, for ``DataLoader(batch_sampler=...)``.

    ``batch_of(step)`` gives one step's batch; iterating yields them in order. ``sampler`` maps an
    epoch to this rank's items (a ``ShardedSampler``).
    """

    def __init__(self, sampler, batch_size: int, start: int = 0, stop: int = 0):
        self.sampler, self.batch_size = sampler, batch_size
        self.start, self.stop = start, stop
        self.steps_per_epoch = len(sampler) // batch_size
        self._epoch: tuple[int, torch.Tensor] | None = None  # the current epoch's order, computed once

    def batch_of(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.steps_per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, self.sampler(epoch))
        return self._epoch[1][position * self.batch_size : (position + 1) * self.batch_size]

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.batch_of(step).tolist()

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
