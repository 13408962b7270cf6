"""One ``Trainer`` for every fastgen model.

The model owns its losses and update rule (``training_step(batch, optimizers)``) and builds its
own optimizers (``make_optimizers(lr)``); the trainer owns the loop: batches, the step counter,
RNG state, checkpoints and the callbacks that write outputs.

Reproducibility: ``torch.manual_seed(seed)`` at the start fixes every random number of the run
(fastgen's ops draw their Philox seeds from torch's generator). Each epoch's order is a fresh
permutation from a generator seeded with (seed, epoch), so the batch of any step is known without
replaying the run (``fastgen.data.sampling``). A checkpoint holds the model, the optimizers, the
step, torch's RNG states, the running loss window and the moving average (``ema``, when kept):
``fit(resume=True)`` continues exactly where the run stopped, and gives the same numbers as a run
that never stopped. Callbacks run inside
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
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fastgen import distributed
from fastgen._files import remove_stale_temporaries
from fastgen.data.sampling import ShardedSampler, StepBatchSampler, shuffled_indices
from fastgen.distributed import barrier
from fastgen.train import graphs
from fastgen.train.checkpoint import RunCheckpoints, atomic_write, write_json
from fastgen.train.ema import ModelEMA
from fastgen.train.signals import Interrupted, ignore_stop_signals, stop_requested
from fastgen.train.step import EagerSteps, step_function

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

    def on_log(self, trainer: Trainer, record: dict) -> None:
        """A record (``{"train": {...}}`` or ``{"eval": {...}}``) written at ``trainer.step`` (rank 0)."""

    def on_images(self, trainer: Trainer, tag: str, images) -> None:
        """Images shown at ``trainer.step`` (rank 0): ``[N, C, H, W]`` in [0, 1], or a matplotlib figure."""


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
        precision, compile, cuda_graphs: how the step runs (``fastgen.train.step``): float32 or
            bfloat16 autocast; the networks compiled or not; on a GPU, the whole step captured as
            one CUDA graph after a few eager steps and replayed (the default), a step that cannot
            be captured (under torch.distributed, or a capture that fails) running eagerly, with
            one ``EagerSteps`` warning.
        ema: keep an exponential moving average of the sampling network with this decay in (0, 1)
            (``fastgen.train.ema``); samples and metrics then use it, and checkpoints hold it.
        transform: applied to each training batch on ``device`` (augmentation, e.g.
            ``fastgen.data.augment.random_hflip``); its random numbers come from the training RNG.
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
        precision: str = "float32",
        compile: bool = False,
        cuda_graphs: bool = True,
        ema: float | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
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
        self.config.update(world_size=self.world_size, global_batch_size=batch_size * self.world_size)
        self.transform = transform
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
        capture = cuda_graphs and graphs.capture_refusal(self.device, self.world_size) is None
        self.step_function = step_function(
            self.model, self.optimizers, precision=precision, compile=compile, cuda_graphs=capture
        )
        if cuda_graphs and self.device.type == "cuda" and self.world_size > 1 and self.is_main:
            reason = graphs.capture_refusal(self.device, self.world_size)
            warnings.warn(f"{reason}: eager steps", EagerSteps, stacklevel=2)
        self.ema = ModelEMA(self.model, ema) if ema is not None else None
        if self.replicas is not None:
            self.replicas.watch(self.optimizers)
        self.step = 0
        self.window: dict[str, torch.Tensor | float] = {}  # sums of each (rank-averaged) loss since the last log
        self.window_steps = 0
        self.last_train_record: dict[str, float] = {}  # the means of the last window logged

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
        augment = self.transform or (lambda batch: batch)
        if self.in_memory:
            for step in range(self.step, self.steps):
                yield augment(self.data[self.batch_indices(step).to(self.device)])
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
            yield augment(samples.to(self.device, non_blocking=True))

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
            "window": self._check_window(),
            "window_steps": self.window_steps,
            "config": self.config,
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.world_size > 1:  # every rank's RNG state, gathered (a single process saves "rng" alone)
            state["rank_rng"] = distributed.gather_objects(state["rng"])
        return state

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``, saved by this world size or another (see the module docstring)."""
        self.model.load_state_dict(state["model"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        if self.ema is not None:
            if "ema" not in state:
                raise ValueError(
                    "ema: the checkpoint holds no moving average to continue (the run was trained without one)"
                )
            self.ema.load_state_dict(state["ema"])
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
        """Append one JSON record (with the step) to ``metrics.jsonl`` and pass it to the callbacks'
        ``on_log`` (the loggers), on rank 0."""
        if self.is_main:
            with self.log_path.open("a") as file:
                file.write(json.dumps({"step": self.step, **record}) + "\n")
            for callback in self.callbacks:
                callback.on_log(self, record)

    def log_images(self, tag: str, images) -> None:
        """Pass images (a batch in [0, 1], or a figure) to the callbacks' ``on_images`` (rank 0)."""
        if self.is_main:
            for callback in self.callbacks:
                callback.on_images(self, tag, images)

    def averaged(self):
        """A context in which the model holds its moving average (``ema``), if it keeps one."""
        return self.ema.applied() if self.ema is not None else nullcontext()

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
            if self.ema is not None:
                self.ema.update()
            self.step += 1
            self._accumulate(losses)
            self._callbacks("on_step", losses)
            if self.step % self.checkpoint_every == 0 or self.step == self.steps:
                self.save_checkpoint()
            self._stop_if_requested()
        self._callbacks("on_end")
        barrier()  # the ranks finish together (rank 0 may still be writing its last outputs)

    def _training_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor | float]:
        """The model's step (through DDP under torch.distributed), its losses averaged over the ranks."""
        if self.replicas is None:
            return self.step_function(batch)
        with self.replicas.active():
            losses = self.step_function(batch)  # the run's precision and compile apply under DDP too
        # One all-reduce a step carries the losses (a NaN or Inf on any rank makes the sum non-finite
        # on every rank) and whether a rank has been asked to stop (_stop_if_requested reads it).
        *sums, stops = distributed.all_reduce_sum(
            [*(float(loss) for loss in losses.values()), float(stop_requested() is not None)]
        )
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

    def _accumulate(self, losses: dict[str, torch.Tensor | float]) -> None:
        """Add the step's losses to the window; at the log interval, read it and log its means.

        The losses stay where the step left them (0-d tensors on the device): summing them there
        costs no wait for the step, so the host runs ahead of a GPU until the window is read. A NaN
        or Inf makes the window's sum non-finite, so reading it every ``log_every`` steps, and
        before every checkpoint (``_check_window``), still stops a diverged run before it saves.
        """
        for name, value in losses.items():
            value = value.detach() if isinstance(value, torch.Tensor) else value
            # a new tensor: a captured step's loss tensors are overwritten by its next replay
            self.window[name] = self.window.get(name, 0.0) + value
        self.window_steps += 1
        if self.step % self.log_every == 0 or self.step == self.steps:
            means = {name: total / self.window_steps for name, total in self._check_window().items()}
            self.last_train_record = means
            self.log({"train": means})
            self.window, self.window_steps = {}, 0

    def _check_window(self) -> dict[str, float]:
        """The window's loss sums read to the host; FloatingPointError (naming the loss and the
        steps) when one is not finite."""
        sums = {name: float(total) for name, total in self.window.items()}
        for name, total in sums.items():
            if not math.isfinite(total):
                first = self.step - self.window_steps + 1
                steps = f"at step {self.step}" if first == self.step else f"between steps {first} and {self.step}"
                where = f" (mean over {self.world_size} processes)" if self.world_size > 1 else ""
                raise FloatingPointError(f"loss {name} is {total}{where} {steps}: training diverged")
        return sums
