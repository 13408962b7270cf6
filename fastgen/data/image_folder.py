"""Any folder of images (PNG, JPEG, BMP, WebP), searched recursively and read lazily with PIL.

Each image is converted to RGB (or gray), its shorter side resized to ``image_size`` (bilinear,
antialiased when shrinking) and its centre cropped to ``image_size × image_size``, as DCGAN's
data pipelines do. An image's label is its first-level subfolder, in sorted order (the
torchvision ``ImageFolder`` convention); images directly in the folder form a class of their own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from fastgen.data.datasets import DatasetInfo
from fastgen.image_files import describe_extensions, list_image_files, open_image

DEFAULT_IMAGE_SIZE = 64


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Scale so that the shorter side is ``size``, then crop the central ``size × size`` square."""
    width, height = image.size
    scale = size / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_width, new_height) != (width, height):
        image = image.resize((new_width, new_height), Image.Resampling.BILINEAR)
    left, top = (new_width - size) // 2, (new_height - size) // 2
    return image.crop((left, top, left + size, top + size))


class ImageFolderDataset(Dataset):
    """Item ``i`` is ``(image, label)``: float32 ``[C, S, S]`` in [0, 1] and its class index (int64 scalar).

    Args:
        root: the folder, searched recursively.
        image_size: S, the side of the square output (default 64).
        channels: 3 (RGB, default) or 1 (gray, PIL's ITU-R 601 luma).
    """

    def __init__(self, root: str | Path, *, image_size: int = DEFAULT_IMAGE_SIZE, channels: int = 3):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"root must be a folder of images, {self.root} is not a folder")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if image_size < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
        self.paths = list_image_files(self.root)  # the files fid / stats read too
        if not self.paths:
            raise ValueError(f"no images ({describe_extensions()}) found under {self.root}")
        self.image_size = image_size
        self.channels = channels
        folders = [self._class_folder(path) for path in self.paths]
        self.classes = sorted(set(folders))
        index = {name: i for i, name in enumerate(self.classes)}
        self.labels = torch.tensor([index[name] for name in folders], dtype=torch.int64)

    def _class_folder(self, path: Path) -> str:
        parts = path.relative_to(self.root).parts
        return parts[0] if len(parts) > 1 else ""

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.paths[index]
        # open_image decodes to 8 bits (16-bit images scaled, not clipped) and names an unreadable
        # file in its one-line error (a ValueError), as fid/stats do.
        image = resize_center_crop(open_image(path, self.channels), self.image_size)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
        pixels = pixels.unsqueeze(0) if self.channels == 1 else pixels.permute(2, 0, 1)
        return pixels.to(torch.float32).div_(255.0), self.labels[index]


def load_image_folder(
    root: str | Path, *, image_size: int | None = None, channels: int | None = None
) -> tuple[ImageFolderDataset, DatasetInfo]:
    """An :class:`ImageFolderDataset` (defaults: 64 pixels, RGB) and its description."""
    image_size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    channels = 3 if channels is None else channels
    dataset = ImageFolderDataset(root, image_size=image_size, channels=channels)
    color = "RGB" if channels == 3 else "gray"
    info = DatasetInfo(
        name=str(root),
        source=f"{len(dataset):,} images from {dataset.root.resolve()} ({color}, center-cropped to {image_size}px)",
        split="all",
        num_samples=len(dataset),
        sample_shape=(channels, image_size, image_size),
        num_classes=len(dataset.classes),
    )
    return dataset, info
