"""Images for the metrics: folders of PNG/JPEG files, loading as uint8, 8-bit quantization.

Every metric input is brought to 8 bits first, because that is what images on disk are: a folder
of PNGs and the same images held in memory as floats must give the same features. Float → uint8
rounds to the nearest level, ``round(255·x)`` (half to even), where torchmetrics truncates with
``(255·x).byte()`` and so shifts every pixel down by half a level on average.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def float_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → uint8 in [0, 255] by rounding: ``round(255·x)``.

    Raises ValueError if a value is outside [0, 1] or not finite (clamp first if your generator
    overshoots: silently clipping would hide a wrong scaling such as [−1, 1] images).
    """
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or a floating dtype in [0, 1], got {images.dtype}")
    if images.numel() > 0:
        low, high = images.min().item(), images.max().item()
        if not (low >= 0.0 and high <= 1.0):  # also false for NaN
            raise ValueError(
                f"float images must lie in [0, 1] (they are quantized to uint8 by rounding 255·x); "
                f"got values in [{low}, {high}]"
            )
    return torch.round(images.float() * 255).to(torch.uint8)


def uint8_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 in [0, 1]: ``u / 255``, as torchvision's ``ToTensor`` computes it."""
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")
    return images.float() / 255


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The PNG and JPEG files under ``folder``, recursively, sorted by path (case-insensitive extensions).

    Raises FileNotFoundError if ``folder`` is not a directory, ValueError if it holds no image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a directory")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not paths:
        raise ValueError(
            f"image folder {root} holds no image ({', '.join(IMAGE_EXTENSIONS)} files, searched recursively)"
        )
    return paths


class ImageFiles(Dataset):
    """Image files as uint8 tensors ``[channels, H, W]``.

    ``channels=3`` converts gray images to RGB (the gray value replicated, PIL's
    ``convert("RGB")``, as pytorch-fid does); ``channels=1`` converts RGB to gray with PIL's
    ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B, for extractors that take gray digits.
    """

    def __init__(self, paths: list[Path], channels: int = 3):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.paths = list(paths)
        self.channels = channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        from PIL import Image

        with Image.open(self.paths[index]) as image:
            pixels = np.asarray(image.convert("RGB" if self.channels == 3 else "L"))
        tensor = torch.from_numpy(pixels.copy())
        return tensor.unsqueeze(0) if self.channels == 1 else tensor.permute(2, 0, 1).contiguous()


def stack_images(batch: list[torch.Tensor]) -> torch.Tensor:
    """Collate images of one size into ``[N, C, H, W]``; a clear error when sizes differ."""
    sizes = sorted({tuple(image.shape[1:]) for image in batch})
    if len(sizes) > 1:
        raise ValueError(f"all images must have the same size to be batched; found sizes (H, W) {sizes}")
    return torch.stack(batch)


def image_loader(
    folder: str | os.PathLike,
    *,
    channels: int = 3,
    batch_size: int = 50,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over the images of ``folder`` (see :func:`list_images`), in sorted order, as uint8 batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers!r}")
    dataset = ImageFiles(list_images(folder), channels=channels)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=stack_images,
        pin_memory=pin_memory,
    )
