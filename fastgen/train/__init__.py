"""Training: ``run`` (a whole run, what `fastgen train` does), the ``Trainer`` it drives for every
model, its callbacks and loggers, checkpoints, the moving average and the metrics.

The names below are imported when first used (PEP 562), so that ``fastgen.train.settings`` (the
defaults the CLI's help shows) loads without torch.
"""

from __future__ import annotations

import importlib

# public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(("LossCurves", "Metrics", "ProgressBar", "SampleGrid", "default_callbacks"), "callbacks"),
    **dict.fromkeys(("load_checkpoint", "save_checkpoint"), "checkpoint"),
    **dict.fromkeys(("MODEL_NAMES", "build_model"), "recipes"),
    **dict.fromkeys(("RunResult", "SettingError", "TrainingDiverged", "run"), "runner"),
    **dict.fromkeys(("Interrupted", "StoppedAtOnce"), "signals"),
    **dict.fromkeys(
        ("CHECKPOINT_NAME", "CONFIG_NAME", "LOG_NAME", "Callback", "Trainer", "shuffled_indices"), "trainer"
    ),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fastgen.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fastgen.train.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
