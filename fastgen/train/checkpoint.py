"""Checkpoints written atomically, read without unpickling arbitrary objects, and rotated.

A checkpoint is one ``torch.save`` file of plain containers, tensors and numbers: the model's and
optimizers' state dicts, the step, torch's RNG states and the run's JSON configuration. It is
written to a temporary file in the same folder, flushed to disk, then renamed over the old one
(``os.replace`` is atomic on POSIX and Windows), so a crash leaves either the old or the new
checkpoint, never half of one. It is read with ``torch.load(weights_only=True)``, and a file that
cannot be read that way raises a :class:`CheckpointError` saying in one line what is wrong with it.

A run folder keeps its newest checkpoint as ``checkpoint.pt`` (the name `fastgen sample` and users
look for) and the older ones it keeps as ``checkpoint-STEP.pt`` (:class:`RunCheckpoints`). The
older ones are what a resume falls back on when the newest is unreadable (a disk that filled up,
a file copied halfway), which a single file could not survive.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from pathlib import Path

import torch

from fastgen._files import atomic_write

__all__ = [
    "REQUIRED_KEYS",
    "CheckpointError",
    "CheckpointSkipped",
    "RunCheckpoints",
    "atomic_write",
    "load_checkpoint",
    "load_run_checkpoint",
    "save_checkpoint",
    "write_json",
]

REQUIRED_KEYS = ("step", "model", "config")  # what a checkpoint of `fastgen train` holds at least


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint; the message names the file and what is wrong."""


class CheckpointSkipped(UserWarning):
    """A resume passed over an unreadable checkpoint for an older one."""


def write_json(path: str | Path, value) -> None:
    atomic_write(path, lambda file: json.dump(value, file, indent=2, sort_keys=True), binary=False)


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Atomically write ``state`` (tensors, numbers, strings and containers of them)."""
    atomic_write(path, lambda file: torch.save(state, file))


def _unreadable_reason(error: Exception) -> str:
    """What torch.load's error means, in a few words (its own messages run to a page)."""
    if isinstance(error, pickle.UnpicklingError):
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if unsupported:
            return (
                f"holds pickled Python objects ({unsupported.group(1)}), not only tensors and numbers; "
                "fastgen does not load those, since unpickling them can run code"
            )
        return "is corrupt or not a file written by torch.save"
    if isinstance(error, EOFError):
        return "ends too early (truncated)"
    return "is truncated or corrupt"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely (``weights_only=True``: no arbitrary code from the file runs).

    Raises ``FileNotFoundError`` when there is no file, :class:`CheckpointError` (one line naming
    the file) when it is empty, truncated, corrupt, holds pickled objects, or is not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except OSError:  # the file could not be read at all (permissions, I/O): not its content's fault
        raise
    except Exception as error:  # garbage makes the unpickler fail in many ways (struct.error, KeyError...)
        raise CheckpointError(f"{path} {_unreadable_reason(error)}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a checkpoint's dict")
    return state


def load_run_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """``load_checkpoint``, also refusing a dict that `fastgen train` did not write (a foreign file)."""
    state = load_checkpoint(path, map_location)
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{path} is not a fastgen training checkpoint (it has no {', '.join(missing)})")
    return state


class RunCheckpoints:
    """The checkpoints of one run folder: ``NAME`` (the newest) and ``NAME-STEP`` (``keep - 1`` older ones).

    ``save`` moves the newest aside to ``checkpoint-STEP.pt`` before writing the new one, then
    deletes the older checkpoints beyond ``keep`` (and any of a step at or beyond the new one: a
    resumed run rewrites those). A crash between the move and the write leaves the folder with
    older checkpoints only, from which a resume continues.
    """

    def __init__(self, folder: str | Path, keep: int = 2, name: str = "checkpoint.pt"):
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a positive integer, got {keep!r}")
        self.folder, self.keep = Path(folder), keep
        self.newest = self.folder / name
        stem, suffix = os.path.splitext(name)
        self._older_name = f"{stem}-{{step:06d}}{suffix}"
        self._older_pattern = re.compile(rf"{re.escape(stem)}-(\d+){re.escape(suffix)}")
        self._newest_step: int | None = None  # the step `newest` holds, once this object knows it

    @property
    def newest_step(self) -> int | None:
        """The step of ``checkpoint.pt`` if this object wrote or read it, else ``None``."""
        return self._newest_step

    def older(self) -> dict[int, Path]:
        """The older checkpoints on disk, by step."""
        found = {}
        for path in self.folder.glob(self._older_name.replace("{step:06d}", "*")):
            match = self._older_pattern.fullmatch(path.name)
            if match:
                found[int(match.group(1))] = path
        return found

    def paths(self) -> list[Path]:
        """Every checkpoint on disk, newest first."""
        older = self.older()
        return [*([self.newest] if self.newest.is_file() else []), *(older[s] for s in sorted(older, reverse=True))]

    def save(self, state: dict) -> None:
        step = int(state["step"])
        if self.keep > 1 and self._newest_step is not None and self._newest_step < step and self.newest.is_file():
            os.replace(self.newest, self.folder / self._older_name.format(step=self._newest_step))
        save_checkpoint(self.newest, state)
        self._newest_step = step
        kept = sorted((s for s in self.older() if s < step), reverse=True)[: self.keep - 1]
        for older_step, path in self.older().items():
            if older_step not in kept:
                path.unlink(missing_ok=True)

    def first_readable(self, map_location: str | torch.device = "cpu") -> tuple[dict | None, list[CheckpointError]]:
        """The newest readable checkpoint (``None`` if there is none) and the errors of the
        unreadable ones passed over on the way, newest first."""
        errors = []
        for path in self.paths():
            try:
                state = load_run_checkpoint(path, map_location)
            except CheckpointError as error:
                errors.append(error)
                continue
            self._newest_step = int(state["step"]) if path == self.newest else None
            return state, errors
        return None, errors

    def load_newest(self, map_location: str | torch.device = "cpu", warn: bool = True) -> dict | None:
        """``first_readable``, naming each unreadable checkpoint passed over in a
        :class:`CheckpointSkipped` warning (when ``warn``)."""
        state, errors = self.first_readable(map_location)
        for error in errors if warn else ():
            warnings.warn(f"skipping an unreadable checkpoint: {error}", CheckpointSkipped, stacklevel=2)
        return state
