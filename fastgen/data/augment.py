"""Augmentations applied to training batches on their device, drawing from the training RNG (torch's
generator of that device), so that a seed fixes them and a resumed run draws what it would have."""

from __future__ import annotations

import torch

__all__ = ["random_hflip"]


def random_hflip(images: torch.Tensor) -> torch.Tensor:
    """Each image of ``[N, C, H, W]`` mirrored left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], device=images.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
