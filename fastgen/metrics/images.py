"""Images for the metrics: folders of image files, loading as uint8 batches, 8-bit quantization.

Every metric input is brought to 8 bits first, because that is what images on disk are: a folder
of PNGs and the same images held in memory as floats must give the same features. Float → uint8
rounds to the nearest level, ``round(255·x)`` (half to even), where torchmetrics truncates with
``(255·x).byte()`` and so shifts every pixel down by half a level on average.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fastgen.image_files import UnreadableImageError, describe_extensions, list_image_files, read_image


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


def pil_gray(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``[N, 3, H, W]`` → uint8 gray ``[N, 1, H, W]`` exactly as PIL's ``convert("L")``
    computes it (ITU-R 601-2 luma in 16-bit fixed point, rounded), so that images in memory and the
    same images decoded from files reach a gray extractor as the same bytes."""
    r, g, b = images.to(torch.int32).unbind(1)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8).unsqueeze(1)


def uint8_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 in [0, 1]: ``u / 255``, as torchvision's ``ToTensor`` computes it."""
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")
    return images.float() / 255


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files under ``folder`` (:data:`fastgen.image_files.IMAGE_EXTENSIONS`), recursively, sorted.

    Raises FileNotFoundError if ``folder`` is not a directory, ValueError if it holds no image.
    """
    root = Path(folder)
    try:
        paths = list_image_files(root)
    except NotADirectoryError:
        raise FileNotFoundError(f"image folder {root} does not exist or is not a directory") from None
    if not paths:
        raise ValueError(f"image folder {root} holds no image ({describe_extensions()} files, searched recursively)")
    return paths


Prepare = Callable[[np.ndarray], torch.Tensor]


class BadImage(NamedTuple):
    """A file a loader worker could not decode, passed to the main process to report or count."""

    path: str
    message: str


class ImageFiles(Dataset):
    """Image files, decoded by :func:`fastgen.image_files.read_image` and prepared for batching.

    Item i is ``prepare(pixels)`` for the uint8 ``[H, W, channels]`` pixels of file i (default: the
    uint8 tensor ``[channels, H, W]``), or a :class:`BadImage` when the file cannot be decoded:
    the worker does not raise, so that the error reaches the user as one line naming the file
    instead of a worker traceback.
    """

    def __init__(
        self, paths: list[Path], channels: int = 3, prepare: Callable[[np.ndarray], torch.Tensor] | None = None
    ):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        self.paths = list(paths)
        self.channels = channels
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor | BadImage:
        try:
            pixels = read_image(self.paths[index], self.channels)
        except UnreadableImageError as error:
            return BadImage(str(self.paths[index]), str(error))
        if self.prepare is not None:
            return self.prepare(pixels)
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


class ImageBatch(NamedTuple):
    """One loader batch: the images (one tensor when they share a size, else a list) and the bad files."""

    images: torch.Tensor | list[torch.Tensor]
    bad: list[BadImage]

    def __len__(self) -> int:
        return len(self.images)


def collate_images(items: list[torch.Tensor | BadImage]) -> ImageBatch:
    """Stack images of one size into ``[N, C, H, W]``; images of mixed sizes stay a list (resized one by one
    later, so that no image's result depends on which others share its batch); set bad files aside."""
    bad = [item for item in items if isinstance(item, BadImage)]
    images = [item for item in items if not isinstance(item, BadImage)]
    if len({tuple(image.shape) for image in images}) > 1:
        return ImageBatch(images, bad)
    return ImageBatch(torch.stack(images) if images else torch.empty(0, dtype=torch.uint8), bad)


def image_loader(
    paths: list[Path],
    *,
    channels: int = 3,
    prepare: Prepare | None = None,
    batch_size: int = 50,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of :class:`ImageBatch` over ``paths`` in their order (see :class:`ImageFiles`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers!r}")
    return DataLoader(
        ImageFiles(paths, channels=channels, prepare=prepare),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_images,
        pin_memory=pin_memory,
    )
