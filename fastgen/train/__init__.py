"""Training: ``run`` (a whole run, what `fastgen train` does), the ``Trainer`` it drives for every
model, its callbacks and loggers, checkpoints, the moving average and the metrics."""

from fastgen.train.callbacks import LossCurves, Metrics, ProgressBar, SampleGrid, default_callbacks
from fastgen.train.checkpoint import load_checkpoint, save_checkpoint
from fastgen.train.recipes import MODEL_NAMES, build_model
from fastgen.train.runner import RunResult, SettingError, TrainingDiverged, run
from fastgen.train.signals import Interrupted, StoppedAtOnce
from fastgen.train.trainer import CHECKPOINT_NAME, CONFIG_NAME, LOG_NAME, Callback, Trainer, shuffled_indices

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIG_NAME",
    "LOG_NAME",
    "MODEL_NAMES",
    "Callback",
    "Interrupted",
    "LossCurves",
    "Metrics",
    "ProgressBar",
    "RunResult",
    "SampleGrid",
    "SettingError",
    "StoppedAtOnce",
    "Trainer",
    "TrainingDiverged",
    "build_model",
    "default_callbacks",
    "load_checkpoint",
    "run",
    "save_checkpoint",
    "shuffled_indices",
]
