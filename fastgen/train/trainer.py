"""One ``Trainer`` for every fastgen model.

The model owns its losses and update rule (``training_step(batch, optimizers)``) and builds its
own optimizers (``make_optimizers(lr)``); the trainer owns the loop: batches, the step counter,
RNG state, checkpoints and the callbacks that write outputs.

Reproducibility: ``torch.manual_seed(seed)`` at the start fixes every random number of the run
(fastgen's ops draw their Philox seeds from torch's generator). Each epoch's order is a fresh
permutation from a generator seeded with (seed, epoch), so the batch of any step is known without
replaying the run. A checkpoint holds the model, the optimizers, the step, torch's RNG states and
the running loss window: ``fit(resume=True)`` continues exactly where the run stopped, and gives
the same numbers as a run that never stopped. Callbacks run inside ``torch.random.fork_rng``, so
sampling and evaluation never move the training RNG.

Ready for ``torch.distributed``: ``rank`` 0 alone writes files and shows progress, and the
``sampler`` hook (epoch → indices of this rank's items) is where a sharded order plugs in.
"""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from fastgen._files import remove_stale_temporaries
from fastgen.train.checkpoint import RunCheckpoints, atomic_write, write_json
from fastgen.train.distributed import any_rank, barrier
from fastgen.train.signals import Interrupted, stop_requested

__all__ = ["CHECKPOINT_NAME", "CONFIG_NAME", "LOG_NAME", "Callback", "Trainer", "shuffled_indices"]

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
LOG_NAME = "metrics.jsonl"
EPOCH_SEED_STRIDE = 1_000_003  # a prime, so (seed, epoch) pairs give distinct generator seeds


def shuffled_indices(num_items: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch ``epoch``: a permutation of ``num_items`` fixed by (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * EPOCH_SEED_STRIDE + epoch)
    return torch.randperm(num_items, generator=generator)


class Callback:
    """Hooks the trainer calls on rank 0; each runs with the training RNG state saved and restored."""

    def on_start(self, trainer: Trainer) -> None:
        pass

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        pass

    def on_end(self, trainer: Trainer) -> None:
        pass


class Trainer:
    """Train ``model`` on in-memory ``data`` ``[N, ...]`` (images in [0, 1] or points).

    Args:
        model: a fastgen model (``make_optimizers``, ``training_step``; see ``fastgen.models``).
        data: the training samples, moved to ``device`` once.
        out_dir: the run folder: ``config.json``, ``metrics.jsonl``, ``checkpoint.pt`` and what the
            callbacks write. A fresh run refuses a folder that already holds files.
        steps: total number of optimisation steps (each on ``batch_size`` samples; an epoch is
            ``len(sampler(epoch)) // batch_size`` steps, the last partial batch dropped).
        seed: fixes the batch order and every random number drawn during ``fit`` (seed torch yourself
            before building the model to fix its initial weights, as the CLI does).
        lr: overrides the model's default learning rate.
        log_every: steps between training-loss records (means over the window) in the log.
        checkpoint_every: steps between checkpoints (one more at the end).
        keep_checkpoints: how many checkpoints the run folder keeps (the newest ``checkpoint.pt``
            and older ``checkpoint-STEP.pt``; see ``RunCheckpoints``).
        config: JSON-serialisable description of the run (model name and options...), saved in
            ``config.json`` and in each checkpoint so that ``fastgen sample`` can rebuild the model.
        sampler: ``(epoch) -> LongTensor`` of item indices for that epoch; the default shuffles
            all items with ``shuffled_indices``. A distributed run passes this rank's shard.
        rank: this process's rank; only rank 0 writes files and runs callbacks.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        data: torch.Tensor,
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
        rank: int = 0,
    ):
        for name, value in (("steps", steps), ("batch_size", batch_size), ("log_every", log_every)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
        if batch_size > data.shape[0]:
            raise ValueError(f"batch_size={batch_size} is larger than the {data.shape[0]} training samples")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.data = data.to(self.device)
        self.out_dir = Path(out_dir)
        self.steps, self.batch_size, self.seed = steps, batch_size, seed
        self.log_every, self.checkpoint_every = log_every, checkpoint_every
        self.callbacks = list(callbacks)
        self.config = dict(config or {})
        self.sampler = sampler or (lambda epoch: shuffled_indices(self.data.shape[0], self.seed, epoch))
        self.rank = rank
        self.checkpoints = RunCheckpoints(self.out_dir, keep_checkpoints, CHECKPOINT_NAME)
        self.optimizers = model.make_optimizers(lr)
        self.step = 0
        self.window: dict[str, float] = {}  # sums of each loss since the last log record
        self.window_steps = 0
        self._epoch_order: tuple[int, torch.Tensor] | None = None
        # an epoch is what the sampler hands this rank (all items, or a shard), in whole batches
        self.steps_per_epoch = len(self.sampler(0)) // batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"batch_size={batch_size} is larger than the {len(self.sampler(0))} items of an epoch")

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
        """Indices of the batch of step ``step`` (0-based)."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            self._epoch_order = (epoch, self.sampler(epoch))
        return self._epoch_order[1][position * self.batch_size : (position + 1) * self.batch_size]

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
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "rng": self._rng_state(),
            "window": dict(self.window),
            "window_steps": self.window_steps,
            "config": self.config,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.step = int(state["step"])
        self.window, self.window_steps = dict(state["window"]), int(state["window_steps"])
        self._set_rng_state(state["rng"])

    def save_checkpoint(self) -> None:
        if self.is_main:
            self.checkpoints.save(self.state_dict())

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
        if not self.is_main:
            return
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
        if not self.is_main:
            return
        devices = [self.device] if self.device.type == "cuda" else []
        for callback in self.callbacks:
            with torch.random.fork_rng(devices=devices):
                getattr(callback, hook)(self, *args)

    # ----- the loop -----

    def fit(self, resume: bool = False) -> None:
        """Train until ``steps``; with ``resume``, continue from ``out_dir``'s checkpoint."""
        self._prepare_run_dir(resume)
        if resume:
            self._resume()
        else:
            torch.manual_seed(self.seed)
        self.model.train()
        self._callbacks("on_start")
        while self.step < self.steps:
            batch = self.data[self.batch_indices(self.step).to(self.device)]
            losses = self.model.training_step(batch, self.optimizers)
            self.step += 1
            self._accumulate(losses)
            self._callbacks("on_step", losses)
            if self.step % self.checkpoint_every == 0 or self.step == self.steps:
                self.save_checkpoint()
            self._stop_if_requested()
        self._callbacks("on_end")

    # ----- faults (TRAIN-FAULTS: fastgen.train.checkpoint, fastgen.train.signals) -----

    def _resume(self) -> None:
        """Continue from the newest readable checkpoint (warning about each unreadable one passed
        over), after deleting what writes interrupted by a kill left behind; config.json then
        records the run as it continues (a longer ``steps``, new cadences)."""
        if self.is_main:
            remove_stale_temporaries(self.out_dir)
            remove_stale_temporaries(self.out_dir / "samples")
        state = self.checkpoints.load_newest(self.device, warn=self.is_main)
        if state is None:
            raise FileNotFoundError(f"cannot resume: no readable checkpoint in {self.out_dir}")
        self.load_state_dict(state)
        if self.is_main:
            self._drop_log_after(self.step)
            if self.config:
                write_json(self.out_dir / CONFIG_NAME, self.config)

    def _stop_if_requested(self) -> None:
        """After a step: if any rank received SIGINT/SIGTERM (inside ``signals.graceful_stop``),
        every rank stops here, with a checkpoint of this step, and raises ``Interrupted``."""
        signum = stop_requested()
        if not any_rank(signum is not None):
            return
        if self.checkpoints.newest_step != self.step:
            self.save_checkpoint()
        barrier()  # no rank exits (ending the job under torchrun) before rank 0 has written it
        self._callbacks("on_end")
        raise Interrupted(self.step, signum or signal.SIGTERM)

    def _accumulate(self, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if not math.isfinite(value):
                raise FloatingPointError(f"loss {name} is {value} at step {self.step}: training diverged")
            self.window[name] = self.window.get(name, 0.0) + value
        self.window_steps += 1
        if self.step % self.log_every == 0 or self.step == self.steps:
            self.log({"train": {name: total / self.window_steps for name, total in self.window.items()}})
            self.window, self.window_steps = {}, 0
