"""The Trainer on torch.distributed: 2 processes (gloo, 127.0.0.1) started by torch.multiprocessing.

Each test starts its ranks with a timeout; a rank that raises ends the test with its traceback.
The independent reference for the gradient averaging is one process on the global batch: with W
ranks of B items, step t's W batches are together items t·WB … (t+1)·WB − 1 of the epoch's
permutation (fastgen.data.sampling), i.e. the batch of one process with batch W·B.
"""

import functools
import json
import os
import shutil
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from fastgen import DCGAN, distributed
from fastgen.data import ShardedSampler
from fastgen.train import Trainer, load_checkpoint

SPAWN_TIMEOUT = 180  # seconds; a 2-process run of these tiny models takes a few on 2 busy cores


class Regression(nn.Module):
    """y ≈ scale · net(x) with a deterministic loss: a child network (under DDP) and a parameter of its
    own (used by no child's forward: averaged before the optimizer step)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        self.scale = nn.Parameter(torch.ones(()))

    def make_optimizers(self, lr=None):
        return {"sgd": torch.optim.SGD(self.parameters(), lr=0.2 if lr is None else lr)}

    def training_step(self, batch, optimizers):
        optimizers["sgd"].zero_grad(set_to_none=True)
        loss = F.mse_loss(self.scale * self.net(batch[:, :3]), batch[:, 3:])
        loss.backward()
        optimizers["sgd"].step()
        return {"loss": loss.item()}


MODELS = {
    "regression": (Regression, lambda: torch.rand(48, 4, generator=torch.Generator().manual_seed(1))),
    "dcgan": (
        lambda: DCGAN(28, 1, latent_dim=8, width=4),
        lambda: torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(1)),
    ),
}


def make(name, out_dir, steps, batch_size, data=None):
    build, make_data = MODELS[name]
    torch.manual_seed(0)
    model = build()
    data = make_data() if data is None else data
    options = {"seed": 3, "checkpoint_every": 2, "log_every": 1, "keep_checkpoints": 3, "config": {"model": name}}
    return Trainer(model, data, out_dir=out_dir, steps=steps, batch_size=batch_size, **options)


def fit_and_save(rank, name, out_dir, steps, batch_size, resume, results, data=None):
    """Train (or resume) and save this rank's final state dict as ``results/rank{rank}.pt``."""
    trainer = make(name, out_dir, steps, batch_size, data)
    try:
        trainer.fit(resume=resume)
    except FloatingPointError as error:
        (results / f"rank{rank}.error").write_text(str(error))
        return
    torch.save(trainer.model.state_dict(), results / f"rank{rank}.pt")
    torch.save(torch.rand(4), results / f"rank{rank}.noise")  # the next numbers of this rank's stream


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank, world_size, port, job):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    distributed.setup("cpu")
    try:
        job(rank)
    finally:
        distributed.teardown()


def run_ranks(job, world_size=2):
    """Run ``job(rank)`` in ``world_size`` fresh processes joined in a gloo group; fail on a timeout."""
    context = mp.start_processes(
        _rank_main, args=(world_size, _free_port(), job), nprocs=world_size, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{world_size} ranks did not finish within {SPAWN_TIMEOUT} s")


def fit_in_ranks(name, out_dir, steps, batch_size, results, resume=False, data=None):
    results.mkdir(parents=True, exist_ok=True)
    run_ranks(functools.partial(fit_and_save, name=name, out_dir=out_dir, steps=steps, batch_size=batch_size,
                                resume=resume, results=results, data=data))  # fmt: skip
    return [torch.load(results / f"rank{r}.pt") for r in range(2)]


def parameters_of(state, model_name):
    build, _ = MODELS[model_name]
    names = {name for name, _ in build().named_parameters()}
    return {key: value for key, value in state.items() if key in names}


def test_two_processes_average_gradients_like_one_process_with_the_global_batch(tmp_path):
    ranks = fit_in_ranks("regression", tmp_path / "two", steps=8, batch_size=4, results=tmp_path / "results")
    one = make("regression", tmp_path / "one", steps=8, batch_size=8)
    one.fit()
    # the replicas stay equal (DDP for the child network, the all-reduce for `scale`)
    for key, value in ranks[0].items():
        assert torch.equal(value, ranks[1][key]), key
    # while each rank draws its own random numbers
    assert not torch.equal(*(torch.load(tmp_path / "results" / f"rank{r}.noise") for r in range(2)))
    # and equal to one process on the global batch, up to float32 summation order (8 steps of SGD
    # on O(1) values: differences of a few ulp per step)
    for key, value in one.model.state_dict().items():
        torch.testing.assert_close(ranks[0][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # the logged loss is the mean over the ranks: the global batch's loss
    two_log = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    one_log = one.read_log()
    assert [r["step"] for r in two_log] == list(range(1, 9))
    for mine, reference in zip(two_log, one_log, strict=True):
        assert mine["train"]["loss"] == pytest.approx(reference["train"]["loss"], rel=1e-5)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["world_size"] == 2 and config["global_batch_size"] == 8
    assert "world_size" not in json.loads((tmp_path / "one" / "config.json").read_text())


def dcgan_runs_in_two_ranks(rank, root):
    """In one process group (starting processes is the slow part): a straight run 0 -> 4, the same
    run resumed from its step-2 checkpoint, and a 1-process run (``root/single``) continued to 4."""
    fit_and_save(rank, "dcgan", root / "straight", 4, 4, False, root / "straight-results")
    if rank == 0:
        stopped = root / "stopped"
        stopped.mkdir()
        shutil.copy(root / "straight" / "config.json", stopped)
        shutil.copy(root / "straight" / "checkpoint-000002.pt", stopped / "checkpoint.pt")
    distributed.barrier()
    fit_and_save(rank, "dcgan", root / "stopped", 4, 4, True, root / "resumed-results")
    fit_and_save(rank, "dcgan", root / "single", 4, 4, True, root / "grown-results")


def test_dcgan_checkpoints_resume_across_world_sizes(tmp_path):
    single = make("dcgan", tmp_path / "single", steps=2, batch_size=4)
    single.fit()
    for name in ("straight", "resumed", "grown"):
        (tmp_path / f"{name}-results").mkdir()
    run_ranks(functools.partial(dcgan_runs_in_two_ranks, root=tmp_path))
    straight, resumed, grown = (
        [torch.load(tmp_path / f"{name}-results" / f"rank{r}.pt") for r in range(2)]
        for name in ("straight", "resumed", "grown")
    )
    params = parameters_of(straight[0], "dcgan")
    assert all(torch.equal(value, straight[1][key]) for key, value in params.items())
    # the checkpoint holds the unwrapped model (keys as in a plain DCGAN) and both ranks' RNG states
    checkpoint = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    assert checkpoint["step"] == 4 and set(checkpoint["model"]) == set(DCGAN(28, 1, latent_dim=8, width=4).state_dict())
    assert len(checkpoint["rank_rng"]) == 2

    # 2 -> 2: resuming from step 2 gives the uninterrupted run's parameters exactly
    for key, value in params.items():
        assert torch.equal(value, resumed[0][key]), key

    # 1 -> 2: two processes continued the 1-process run, as replicas of one model
    assert load_checkpoint(tmp_path / "single" / "checkpoint.pt")["step"] == 4
    assert all(torch.equal(value, grown[1][key]) for key, value in parameters_of(grown[0], "dcgan").items())
    assert all(torch.isfinite(value).all() for value in grown[0].values() if value.is_floating_point())

    # 2 -> 1: one process continues the 2-process run
    alone = make("dcgan", tmp_path / "straight", steps=6, batch_size=4)
    alone.fit(resume=True)
    assert alone.step == 6 and load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["step"] == 6


def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path):
    data = MODELS["regression"][1]()
    first_batch_of_rank_1 = ShardedSampler(len(data), 3, rank=1, world_size=2)(0)[:4]
    data[first_batch_of_rank_1[0]] = float("nan")  # rank 0's first batch stays finite
    results = tmp_path / "results"
    results.mkdir()
    run_ranks(functools.partial(fit_and_save, name="regression", out_dir=tmp_path / "run", steps=5, batch_size=4,
                                resume=False, results=results, data=data))  # fmt: skip
    for rank in range(2):
        message = (results / f"rank{rank}.error").read_text()
        assert "loss loss is nan (mean over 2 processes) at step 1: training diverged" in message
        assert not (results / f"rank{rank}.pt").exists()
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def score_half(rank, results):
    """Rank r scores its half of 200 digits; every rank gets the scores of all 200."""
    from fastgen.data import load_dataset
    from fastgen.train.metrics import DigitsScorer

    real, generated = load_dataset("mnist", train=False)[0].data[:200], load_dataset("mnist")[0].data[:200]
    torch.save(DigitsScorer(real)(generated.chunk(2)[rank]), results / f"rank{rank}.pt")


def test_digits_scores_spread_over_ranks_equal_one_process(tmp_path):
    from fastgen.data import load_dataset
    from fastgen.train.metrics import DigitsScorer

    run_ranks(functools.partial(score_half, results=tmp_path))
    real, generated = load_dataset("mnist", train=False)[0].data[:200], load_dataset("mnist")[0].data[:200]
    reference = DigitsScorer(real)(generated)
    for rank in range(2):
        scores = torch.load(tmp_path / f"rank{rank}.pt")
        # the gathered logits are the same rows in the same order: the Inception Score is identical
        assert scores["digits_is"] == reference["digits_is"] and scores["digits_is_std"] == reference["digits_is_std"]
        # the merged float64 statistics differ from one pass by rounding (~1e-13 relative); the FID's
        # eigenvalue problem keeps that far below 1e-9
        assert scores["digits_fid"] == pytest.approx(reference["digits_fid"], rel=1e-9)


def test_the_device_rule_without_torchrun_and_under_it(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.setup("cpu") == torch.device("cpu") and not distributed.is_distributed()
    assert distributed.setup(None) == distributed.default_device()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    with pytest.raises(ValueError, match=r"cuda:1 under torchrun: pass plain 'cuda'"):
        distributed.setup("cuda:1")  # refused before any group is joined
    assert not distributed.is_distributed()


def test_contiguous_share_outside_a_group_is_everything():
    assert distributed.contiguous_share([1, 2, 3]) == [1, 2, 3] and distributed.share(5) == 5
