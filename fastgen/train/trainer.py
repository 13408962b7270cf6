"""One ``Trainer`` for every fastgen model.

The model owns its losses and update rule (``training_step(batch, optimizers)``) and builds its
own optimizers (``make_optimizers(lr)``); the trainer owns the loop: batches, the step counter,
RNG state, checkpoints and the callbacks that write outputs.

Reproducibility: ``torch.manual_seed(seed)`` at the start fixes every random number of the run
(fastgen's ops draw their Philox seeds from torch's generator). Each epoch's order is a fresh
permutation from a generator seeded with (seed, epoch), so the batch of any step is known without
replaying the run (``fastgen.data.sampling``). A checkpoint holds the model, the optimizers, the
step, torch's RNG states and the running loss window: ``fit(resume=True)`` continues exactly where
the run stopped, and gives the same numbers as a run that never stopped. Callbacks run inside
``torch.random.fork_rng``, so sampling and evaluation never move the training RNG.

Data: a tensor (the small embedded sets) is indexed in memory; a ``Dataset`` (an image folder, the
full MNIST) streams through a ``DataLoader`` with ``workers`` processes, whose batch sampler hands
it the items of each step, so memory does not grow with the dataset.

Under ``torch.distributed`` (``fastgen.distributed``; ``torchrun`` starts the processes) each
rank trains on its shard of every epoch's permutation with ``batch_size`` items per step, the
model's networks under DDP (``ReplicatedNetworks``), and its own random stream (rank r > 0 seeds
torch with a number derived from (seed, r)). The step's losses are averaged over the ranks (one
all-reduce, which also stops every rank when any rank's loss is not finite); rank 0 alone writes
files and shows progress, evaluation spreads its samples over the ranks. Checkpoints hold the
unwrapped state dicts and every rank's RNG state, so a run resumes exactly in the same world size,
and in any other one (a rank without a saved state then seeds from (seed, rank, step)). Without
``torchrun`` none of this runs: not one collective, and the numbers of a plain single process.
"""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fastgen import distributed
from fastgen._files import remove_stale_temporaries
from fastgen.data.sampling import ShardedSampler, StepBatchSampler, shuffled_indices
from fastgen.distributed import barrier
from fastgen.train.checkpoint import RunCheckpoints, atomic_write, write_json
from fastgen.train.signals import Interrupted, ignore_stop_signals, stop_requested

__all__ = ["CHECKPOINT_NAME", "CONFIG_NAME", "LOG_NAME", "Callback", "Trainer", "rank_seed", "shuffled_indices"]

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
LOG_NAME = "metrics.jsonl"


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The torch seed of rank ``rank`` starting at ``step``: ``seed`` itself for rank 0 at step 0 (a
    single process runs as it always did); otherwise a 64-bit number hashed from (seed, rank, step)
    by numpy's ``SeedSequence``, so that every rank draws its own noise. (``seed + rank`` would
    collide with the neighbouring seeds, and ``seed + rank * 2**32`` would not separate anything:
    torch's CPU generator keeps only the low 32 bits of its seed.)"""
    if rank == 0 and step == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0])


class Callback:
    """Hooks the trainer calls on rank 0; each runs with the training RNG state saved and restored.

    A callback with ``every_rank = True`` runs on every rank (its collectives, e.g. an evaluation
    spread over the ranks, need them all); it must still leave the writing to rank 0.
    """

    every_rank = False

    def on_start(self, trainer: Trainer) -> None:
        pass

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        pass

    def on_end(self, trainer: Trainer) -> None:
        pass


class Trainer:
    """Train ``model`` on ``data``: images in [0, 1] or points.

    Args:
        model: a fastgen model (``make_optimizers``, ``training_step``; see ``fastgen.models``).
        data: the training samples, a tensor ``[N, ...]`` moved to ``device`` once, or a ``Dataset``
            whose items are samples or ``(sample, label)`` pairs, streamed through a ``DataLoader``.
        out_dir: the run folder: ``config.json``, ``metrics.jsonl``, ``checkpoint.pt`` and what the
            callbacks write. A fresh run refuses a folder that already holds files.
        steps: total number of optimisation steps (each on ``batch_size`` samples per process; an
            epoch is ``len(sampler) // batch_size`` steps, the last partial batch dropped).
        seed: fixes the batch order and every random number drawn during ``fit`` (seed torch yourself
            before building the model to fix its initial weights, as the CLI does).
        lr: overrides the model's default learning rate.
        log_every: steps between training-loss records (means over the window) in the log.
        checkpoint_every: steps between checkpoints (one more at the end).
        keep_checkpoints: how many checkpoints the run folder keeps (the newest ``checkpoint.pt``
            and older ``checkpoint-STEP.pt``; see ``RunCheckpoints``).
        config: JSON-serialisable description of the run (model name and options...), saved in
            ``config.json`` and in each checkpoint so that ``fastgen sample`` can rebuild the model.
        sampler: ``(epoch) -> LongTensor`` of this rank's item indices in that epoch, with ``len``
            (items per epoch); default a ``ShardedSampler``: every item, or this rank's shard.
        workers: ``DataLoader`` worker processes reading a ``Dataset`` (0: in this process).
        sync_bn: under torch.distributed, BatchNorm over all ranks' batches (CUDA only).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        data: torch.Tensor | Dataset,
        *,
        out_dir: str | Path,
        steps: int,
        batch_size: int,
        seed: int = 0,
        lr: float | None = None,
        device: str | torch.device = "cpu",
        log_every: int = 50,
        checkpoint_every: int = 500,
        keep_checkpoints: int = 2,
        callbacks: Sequence[Callback] = (),
        config: dict | None = None,
        sampler: Callable[[int], torch.Tensor] | None = None,
        workers: int = 0,
        sync_bn: bool = False,
    ):
        for name, value in (("steps", steps), ("batch_size", batch_size), ("log_every", log_every)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
        if not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be a non-negative integer, got {workers!r}")
        self.in_memory = isinstance(data, torch.Tensor)
        num_items = data.shape[0] if self.in_memory else len(data)
        if batch_size > num_items:
            raise ValueError(f"batch_size={batch_size} is larger than the {num_items} training samples")
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.data = data.to(self.device) if self.in_memory else data
        self.out_dir = Path(out_dir)
        self.steps, self.batch_size, self.seed = steps, batch_size, seed
        self.log_every, self.checkpoint_every, self.workers = log_every, checkpoint_every, workers
        self.callbacks = list(callbacks)
        self.config = dict(config or {})
        if self.world_size > 1:
            self.config.update(world_size=self.world_size, global_batch_size=batch_size * self.world_size)
        else:  # a single process's config stays as it always was (also when it continues a larger run)
            self.config.pop("world_size", None)
            self.config.pop("global_batch_size", None)
        self.sampler = sampler or ShardedSampler(num_items, seed, rank=self.rank, world_size=self.world_size)
        # an epoch is what the sampler hands this rank (all items, or a shard), in whole batches
        self.batches = StepBatchSampler(self.sampler, batch_size)
        self.steps_per_epoch = self.batches.steps_per_epoch
        if self.steps_per_epoch < 1:
            raise ValueError(f"batch_size={batch_size} is larger than the {len(self.sampler)} items of an epoch")
        self.checkpoints = RunCheckpoints(self.out_dir, keep_checkpoints, CHECKPOINT_NAME)
        self.saved_step: int | None = None  # the step of the newest checkpoint, known on every rank
        self.replicas = None
        self._stop_on_any_rank = False  # set by each step's all-reduce under torch.distributed
        if self.world_size > 1:
            self.replicas = distributed.ReplicatedNetworks(self.model, self.device, sync_bn=sync_bn)
        self.optimizers = model.make_optimizers(lr)
        if self.replicas is not None:
            self.replicas.watch(self.optimizers)
        self.step = 0
        self.window: dict[str, float] = {}  # sums of each (rank-averaged) loss since the last log record
        self.window_steps = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    @property
    def log_path(self) -> Path:
        return self.out_dir / LOG_NAME

    def batch_indices(self, step: int) -> torch.Tensor:
        """Indices of this rank's batch of step ``step`` (0-based)."""
        return self.batches.batch_of(step)

    def _batches(self) -> Iterator[torch.Tensor]:
        """The batches of steps ``self.step`` … ``steps - 1``, on ``device``."""
        if self.in_memory:
            for step in range(self.step, self.steps):
                yield self.data[self.batch_indices(step).to(self.device)]
            return
        loader = DataLoader(
            self.data,
            batch_sampler=StepBatchSampler(self.sampler, self.batch_size, self.step, self.steps),
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.seed),  # its worker seeds: not from the training RNG
            worker_init_fn=ignore_stop_signals,  # a Ctrl-C to the process group is the training process's to handle
        )
        for batch in loader:
            samples = batch[0] if isinstance(batch, (list, tuple)) else batch  # (samples, labels) pairs
            yield samples.to(self.device, non_blocking=True)

    # ----- state -----

    def _rng_state(self) -> dict:
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["cpu"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def state_dict(self) -> dict:
        """The run's state; every rank must call it (under torch.distributed it gathers the RNG states)."""
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "rng": self._rng_state(),
            "window": dict(self.window),
            "window_steps": self.window_steps,
            "config": self.config,
        }
        if self.world_size > 1:  # every rank's RNG state, gathered (a single process saves "rng" alone)
            state["rank_rng"] = distributed.gather_objects(state["rng"])
        return state

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``, saved by this world size or another (see the module docstring)."""
        self.model.load_state_dict(state["model"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.step = int(state["step"])
        self.window, self.window_steps = dict(state["window"]), int(state["window_steps"])
        rank_states = state.get("rank_rng", [state["rng"]])
        if self.rank < len(rank_states):
            self._set_rng_state(rank_states[self.rank])
        else:
            torch.manual_seed(rank_seed(self.seed, self.rank, self.step))

    def save_checkpoint(self) -> None:
        """Write a checkpoint at this step: every rank calls it (the state gathers RNG states), rank 0 writes."""
        state = self.state_dict()
        if self.is_main:
            self.checkpoints.save(state)
        self.saved_step = self.step

    # ----- outputs -----

    def log(self, record: dict) -> None:
        """Append one JSON record (with the step) to ``metrics.jsonl`` (rank 0)."""
        if self.is_main:
            with self.log_path.open("a") as file:
                file.write(json.dumps({"step": self.step, **record}) + "\n")

    def read_log(self) -> list[dict]:
        if not self.log_path.is_file():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def _prepare_run_dir(self, resume: bool) -> None:
        """Rank 0 checks and prepares the folder; its refusal stops every rank."""
        problem = None
        if self.is_main:
            try:
                self._prepare_run_dir_here(resume)
            except OSError as error:
                problem = error
        problem = distributed.broadcast_object(problem)
        if problem is not None:
            raise problem

    def _prepare_run_dir_here(self, resume: bool) -> None:
        if resume:
            if not self.checkpoints.paths():
                raise FileNotFoundError(f"cannot resume: no {CHECKPOINT_NAME} in {self.out_dir}")
            return
        if self.out_dir.exists() and any(self.out_dir.iterdir()):
            raise FileExistsError(f"{self.out_dir} already holds a run; pass resume=True (--resume) or another folder")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.out_dir / CONFIG_NAME, self.config)

    def _drop_log_after(self, step: int) -> None:
        """Forget records written after the checkpoint we resume from (they will be written again)."""
        kept = [record for record in self.read_log() if record["step"] <= step]
        atomic_write(self.log_path, lambda f: f.writelines(json.dumps(r) + "\n" for r in kept), binary=False)

    def _callbacks(self, hook: str, *args) -> None:
        devices = [self.device] if self.device.type == "cuda" else []
        for callback in self.callbacks:
            if not (self.is_main or callback.every_rank):
                continue
            with torch.random.fork_rng(devices=devices):
                getattr(callback, hook)(self, *args)

    # ----- the loop -----

    def fit(self, resume: bool = False) -> None:
        """Train until ``steps``; with ``resume``, continue from ``out_dir``'s checkpoint."""
        self._prepare_run_dir(resume)
        if resume:
            self._resume()
        else:
            torch.manual_seed(rank_seed(self.seed, self.rank))
        self.model.train()
        self._callbacks("on_start")
        for batch in self._batches():
            losses = self._training_step(batch)
            self.step += 1
            self._accumulate(losses)
            self._callbacks("on_step", losses)
            if self.step % self.checkpoint_every == 0 or self.step == self.steps:
                self.save_checkpoint()
            self._stop_if_requested()
        self._callbacks("on_end")
        barrier()  # the ranks finish together (rank 0 may still be writing its last outputs)

    def _training_step(self, batch: torch.Tensor) -> dict[str, float]:
        """The model's step (through DDP under torch.distributed), its losses averaged over the ranks."""
        if self.replicas is None:
            return self.model.training_step(batch, self.optimizers)
        with self.replicas.active():
            losses = self.model.training_step(batch, self.optimizers)
        # One all-reduce a step carries the losses (a NaN or Inf on any rank makes the sum non-finite
        # on every rank) and whether a rank has been asked to stop (_stop_if_requested reads it).
        *sums, stops = distributed.all_reduce_sum([*losses.values(), float(stop_requested() is not None)])
        self._stop_on_any_rank = stops > 0
        return {name: total / self.world_size for name, total in zip(losses, sums, strict=True)}

    # ----- faults (TRAIN-FAULTS: fastgen.train.checkpoint, fastgen.train.signals) -----

    def _resume(self) -> None:
        """Continue from the newest readable checkpoint (warning about each unreadable one passed
        over), after deleting what writes interrupted by a kill left behind; config.json then
        records the run as it continues (a longer ``steps``, new cadences)."""
        if self.is_main:
            remove_stale_temporaries(self.out_dir)
            remove_stale_temporaries(self.out_dir / "samples")
        # rank 0 reads it and hands it to the other ranks: a multi-node run needs no shared disk for this
        state = distributed.broadcast_object(self.checkpoints.load_newest(self.device) if self.is_main else None)
        if state is None:
            raise FileNotFoundError(f"cannot resume: no readable checkpoint in {self.out_dir}")
        self.load_state_dict(state)
        self.saved_step = self.step
        if self.is_main:
            self._drop_log_after(self.step)
            if self.config:
                write_json(self.out_dir / CONFIG_NAME, self.config)

    def _stop_if_requested(self) -> None:
        """After a step: if any rank received SIGINT/SIGTERM (inside ``signals.graceful_stop``),
        every rank stops here, with a checkpoint of this step, and raises ``Interrupted``."""
        signum = stop_requested()
        # Under torch.distributed every rank decides on the flag this step's all-reduce carried
        # (_training_step), so all stop at the same step; a signal that came after it counts at
        # the next step. In one process the signal is read here.
        stop = self._stop_on_any_rank if self.replicas is not None else signum is not None
        if not stop:
            return
        if self.saved_step != self.step:
            self.save_checkpoint()
        barrier()  # no rank exits (ending the job under torchrun) before rank 0 has written it
        self._callbacks("on_end")
        raise Interrupted(self.step, signum or signal.SIGTERM)

    def _accumulate(self, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if not math.isfinite(value):
                where = f" (mean over {self.world_size} processes)" if self.world_size > 1 else ""
                raise FloatingPointError(f"loss {name} is {value}{where} at step {self.step}: training diverged")
            self.window[name] = self.window.get(name, 0.0) + value
        self.window_steps += 1
        if self.step % self.log_every == 0 or self.step == self.steps:
            self.log({"train": {name: total / self.window_steps for name, total in self.window.items()}})
            self.window, self.window_steps = {}, 0
