"""The containers every loader returns: an in-memory labelled dataset and a description of its source."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

# ITU-R BT.601 luma, the weights PIL uses for "RGB" -> "L"
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class DatasetInfo:
    """What a loader returned and where it came from.

    ``source`` says which data were used, e.g. "embedded MNIST subset (5,000 digits)" or
    "MNIST from /data/mnist"; ``split`` is "train", "test" or "all" (an image folder);
    ``sample_shape`` is the shape of one item (``(C, H, W)`` for images, ``(2,)`` for points);
    ``num_classes`` counts the labels (classes, mixture components, or subfolders of a folder).
    """

    name: str
    source: str
    split: str
    num_samples: int
    sample_shape: tuple[int, ...]
    num_classes: int

    def __str__(self) -> str:
        shape = "×".join(str(n) for n in self.sample_shape)
        return f"{self.name} ({self.split}, {self.num_samples:,} samples of {shape}): {self.source}"


class LabeledDataset(Dataset):
    """Samples and their labels held in memory; item ``i`` is ``(data[i], labels[i])``.

    data: ``[N, C, H, W]`` float32 images in [0, 1], or ``[N, D]`` float32 points.
    labels: ``[N]`` int64 (class of an image, mixture component of a point).
    Training loops on small data can index ``data`` with a batch of indices directly.
    """

    def __init__(self, data: torch.Tensor, labels: torch.Tensor):
        if data.shape[0] != labels.shape[0]:
            raise ValueError(f"data has {data.shape[0]} samples but labels has {labels.shape[0]}")
        self.data = data
        self.labels = labels

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index):
        return self.data[index], self.labels[index]


class ByteImageDataset(Dataset):
    """Images kept as their uint8 pixels, converted one item at a time (for a ``DataLoader``).

    Item ``i`` is ``(image, label)``: float32 ``[C, S, S]`` in [0, 1], converted to ``channels`` and
    resized to ``image_size`` exactly as :func:`convert_channels` and :func:`resize_images` convert a
    whole batch. Holding bytes rather than floats keeps a large set (the full MNIST: 47 MB) at a
    quarter of its float size, and nothing proportional to it is ever stacked.

    images: uint8 ``[N, H, W]`` or ``[N, C, H, W]``; labels: int64 ``[N]``.
    """

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, *, image_size: int | None = None, channels: int | None = None
    ):
        if images.dtype != torch.uint8 or images.ndim not in (3, 4):
            raise ValueError(f"images must be uint8 [N, H, W] or [N, C, H, W], got {images.dtype} {list(images.shape)}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"images has {images.shape[0]} samples but labels has {labels.shape[0]}")
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if image_size is not None and image_size < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
        self.images, self.labels = images, labels
        self.image_size, self.channels = image_size, channels

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        channels = self.channels or (1 if self.images.ndim == 3 else self.images.shape[1])
        side = self.image_size or self.images.shape[-1]
        return (channels, side, side)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = uint8_to_float_images(self.images[index : index + 1])
        image = resize_images(convert_channels(image, self.channels), self.image_size)
        return image[0], self.labels[index]


def uint8_to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[N, H, W]`` or ``[N, C, H, W]`` in [0, 255] → float32 ``[N, C, H, W]`` in [0, 1]."""
    if images.ndim == 3:
        images = images.unsqueeze(1)
    return images.to(torch.float32).div_(255.0)


def convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Float ``[N, C, H, W]`` with C in {1, 3} → ``channels`` channels (gray repeated, or RGB → luma)."""
    if channels is None or images.shape[1] == channels:
        return images
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def resize_images(images: torch.Tensor, image_size: int | None) -> torch.Tensor:
    """Float ``[N, C, H, W]`` → ``[N, C, S, S]`` with S = ``image_size``, bilinear (antialiased when shrinking).

    Square inputs only: the in-memory datasets (MNIST, digits) are square, folders crop first.
    """
    if image_size is None or images.shape[-1] == image_size:
        return images
    if image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    resized = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return resized.clamp_(0.0, 1.0)  # the weights are convex: only rounding can step outside [0, 1]
