"""The check every metric function makes of its array arguments first."""

from __future__ import annotations

import numpy as np
import torch


def floating_tensor(name: str, value, what: str = "") -> torch.Tensor:
    """``value`` (a torch.Tensor, or a numpy array, shared without a copy) as a floating tensor, or
    a one-line TypeError naming ``name``; ``what`` says what the array holds (" of features")."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array{what}, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
    return value
