"""Training: one ``Trainer`` for every model, its callbacks, checkpoints and metrics."""

from fastgen.train.callbacks import LossCurves, Metrics, ProgressBar, SampleGrid, default_callbacks
from fastgen.train.checkpoint import load_checkpoint, save_checkpoint
from fastgen.train.recipes import MODEL_NAMES, build_model
from fastgen.train.trainer import CHECKPOINT_NAME, CONFIG_NAME, LOG_NAME, Callback, Trainer, shuffled_indices

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIG_NAME",
    "LOG_NAME",
    "MODEL_NAMES",
    "Callback",
    "LossCurves",
    "Metrics",
    "ProgressBar",
    "SampleGrid",
    "Trainer",
    "build_model",
    "default_callbacks",
    "load_checkpoint",
    "save_checkpoint",
    "shuffled_indices",
]
