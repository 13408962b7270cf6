"""Where a run's losses, metrics and sample grids go besides ``metrics.jsonl`` and the PNG files.

``metrics.jsonl`` (the ``Trainer``'s own record, which a resume truncates to its checkpoint and
``loss_curves.png`` is drawn from) is always written; the loggers named here add to it:

- ``csv``: ``metrics.csv``, one row per number, ``step,group,name,value`` (group ``train`` or
  ``eval``), readable by any spreadsheet or ``pandas.read_csv``;
- ``tensorboard``: event files in ``tensorboard/`` through ``torch.utils.tensorboard``: every loss
  and metric as a scalar (tag ``train/loss_d``, ``eval/digits_fid``), the sample grids as images
  (tag ``samples``; a ring's scatter plot as a figure). Needs the ``tensorboard`` package
  (``pip install "fastgen[tensorboard]"``).

Each is a :class:`~fastgen.train.trainer.Callback` fed by ``Trainer.log`` / ``Trainer.log_images``
on rank 0. A resumed run continues them from its checkpoint's step: the CSV rows after it are
dropped, and TensorBoard hides the events after it (``purge_step``), as ``metrics.jsonl`` does.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence

from fastgen.train.checkpoint import atomic_write
from fastgen.train.trainer import Callback, Trainer

__all__ = ["LOGGER_NAMES", "CSVLogger", "TensorBoardLogger", "check_loggers", "make_loggers"]

LOGGER_NAMES = ("jsonl", "csv", "tensorboard")
CSV_NAME = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"
CSV_FIELDS = ("step", "group", "name", "value")


def _numbers(record: dict):
    """(group, name, value) of every number in a log record (lists, such as mode counts, are skipped)."""
    for group, values in record.items():
        if isinstance(values, dict):
            for name, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    yield group, name, value


def check_loggers(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple of known loggers, each once, whose packages are installed; a ValueError
    naming the first that is not (before anything is written)."""
    if isinstance(names, str):
        names = [names]
    checked: list[str] = []
    for name in names:
        if name not in LOGGER_NAMES:
            raise ValueError(f"loggers: expected some of {', '.join(LOGGER_NAMES)}, got {name!r}")
        if name == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
            raise ValueError(
                'loggers: tensorboard needs the tensorboard package: pip install "fastgen[tensorboard]" '
                "(or pip install tensorboard)"
            )
        if name not in checked:
            checked.append(name)
    return tuple(checked)


def make_loggers(names: Sequence[str]) -> list[Callback]:
    """The logger callbacks for ``names`` (``jsonl`` is the trainer's own record: nothing to add)."""
    made = {"csv": CSVLogger, "tensorboard": TensorBoardLogger}
    return [made[name]() for name in check_loggers(names) if name in made]


class CSVLogger(Callback):
    """``metrics.csv``: ``step,group,name,value`` rows, appended as the trainer logs."""

    def on_start(self, trainer: Trainer) -> None:
        self.path = trainer.out_dir / CSV_NAME
        kept = []
        if self.path.is_file():  # a resumed run: keep the rows up to its checkpoint's step
            with self.path.open(newline="") as file:
                kept = [row for row in csv.DictReader(file) if int(row["step"]) <= trainer.step]
        atomic_write(self.path, lambda file: self._write(file, kept, header=True), binary=False)

    @staticmethod
    def _write(file, rows, header: bool) -> None:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS, lineterminator="\n")
        if header:
            writer.writeheader()
        writer.writerows(rows)

    def on_log(self, trainer: Trainer, record: dict) -> None:
        rows = [dict(zip(CSV_FIELDS, (trainer.step, *number), strict=True)) for number in _numbers(record)]
        with self.path.open("a", newline="") as file:
            self._write(file, rows, header=False)


class TensorBoardLogger(Callback):
    """Scalars and sample images in ``tensorboard/`` (``tensorboard --logdir RUN/tensorboard``)."""

    def __init__(self):
        self.writer = None

    def on_start(self, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a resumed run hides the events written after its checkpoint by the run it continues
        purge = trainer.step + 1 if trainer.step > 0 else None
        self.writer = SummaryWriter(log_dir=str(trainer.out_dir / TENSORBOARD_DIR), purge_step=purge)

    def on_log(self, trainer: Trainer, record: dict) -> None:
        if self.writer is None:
            return
        for group, name, value in _numbers(record):
            self.writer.add_scalar(f"{group}/{name}", value, trainer.step)
        self.writer.flush()  # a killed run keeps what it logged (records come every log_every steps)

    def on_images(self, trainer: Trainer, tag: str, images) -> None:
        if self.writer is None:
            return
        import torch

        if isinstance(images, torch.Tensor):
            from torchvision.utils import make_grid

            self.writer.add_image(tag, make_grid(images, nrow=max(1, round(images.shape[0] ** 0.5))), trainer.step)
        else:
            self.writer.add_figure(tag, images, trainer.step, close=False)
        self.writer.flush()

    def on_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
