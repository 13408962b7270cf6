"""The training order: (seed, epoch) permutations, their shards over ranks, and the batches of steps."""

import pytest
import torch

from fastgen.data import ShardedSampler, StepBatchSampler, shuffled_indices


@pytest.mark.parametrize("num_items, world_size", [(10, 1), (10, 2), (11, 2), (97, 3), (8, 8)])
def test_shards_partition_each_epochs_permutation(num_items, world_size):
    for epoch in range(3):
        order = shuffled_indices(num_items, 5, epoch)
        shards = [ShardedSampler(num_items, 5, rank=r, world_size=world_size)(epoch) for r in range(world_size)]
        # equal lengths, so every rank runs the same number of steps per epoch
        assert {len(shard) for shard in shards} == {num_items // world_size}
        kept = (num_items // world_size) * world_size
        # disjoint, and together exactly the first `kept` items of the shared permutation
        together = torch.cat(shards)
        assert together.unique().numel() == kept
        assert sorted(together.tolist()) == sorted(order[:kept].tolist())
        # interleaved as DistributedSampler does: position p of rank r is the permutation's p*W + r
        for r, shard in enumerate(shards):
            assert torch.equal(shard, order[:kept][r::world_size])


def test_one_rank_visits_the_whole_permutation_unchanged():
    assert torch.equal(ShardedSampler(50, 3)(4), shuffled_indices(50, 3, 4))


def test_epochs_and_seeds_give_different_orders():
    assert not torch.equal(shuffled_indices(50, 0, 0), shuffled_indices(50, 0, 1))
    assert not torch.equal(shuffled_indices(50, 0, 0), shuffled_indices(50, 1, 0))
    assert torch.equal(shuffled_indices(50, 2, 7), shuffled_indices(50, 2, 7))


def test_step_batches_walk_the_epochs_and_resume_anywhere():
    sampler = ShardedSampler(23, 1, rank=1, world_size=2)  # 11 items per rank, 3 steps of 3 per epoch
    full = list(StepBatchSampler(sampler, 3, start=0, stop=7))
    assert len(full) == 7 and all(len(batch) == 3 for batch in full)
    epoch0, epoch1 = sampler(0).tolist(), sampler(1).tolist()
    assert full[:3] == [epoch0[0:3], epoch0[3:6], epoch0[6:9]]  # the last 2 items of the shard are dropped
    assert full[3:6] == [epoch1[0:3], epoch1[3:6], epoch1[6:9]]
    assert list(StepBatchSampler(sampler, 3, start=4, stop=7)) == full[4:]


def test_bad_shards_are_refused():
    with pytest.raises(ValueError, match="rank"):
        ShardedSampler(10, 0, rank=2, world_size=2)
    with pytest.raises(ValueError, match="3 items cannot be shared among 4 processes"):
        ShardedSampler(3, 0, rank=0, world_size=4)
