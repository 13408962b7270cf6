"""Checkpoints written atomically and read without unpickling arbitrary objects.

A checkpoint is one ``torch.save`` file of plain containers, tensors and numbers: the model's and
optimizers' state dicts, the step, torch's RNG states and the run's JSON configuration. It is
written to a temporary file in the same folder, flushed to disk, then renamed over the old one
(``os.replace`` is atomic on POSIX and Windows), so a crash leaves either the old or the new
checkpoint, never half of one. It is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fastgen._files import atomic_write

__all__ = ["atomic_write", "load_checkpoint", "save_checkpoint", "write_json"]


def write_json(path: str | Path, value) -> None:
    atomic_write(path, lambda file: json.dump(value, file, indent=2, sort_keys=True), binary=False)


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Atomically write ``state`` (tensors, numbers, strings and containers of them)."""
    atomic_write(path, lambda file: torch.save(state, file))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely (``weights_only=True``: no arbitrary code from the file runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)
