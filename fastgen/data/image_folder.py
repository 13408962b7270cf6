"""Any folder of images (PNG, JPEG, BMP, WebP), searched recursively and read lazily with PIL.

Each image is converted to RGB (or gray), its shorter side resized to ``image_size`` (bilinear,
antialiased when shrinking) and its centre cropped to ``image_size × image_size``, as DCGAN's
data pipelines do. An image's label is its first-level subfolder, in sorted order (the
torchvision ``ImageFolder`` convention); images directly in the folder form a class of their own.

A folder has no held-out split of its own; ``holdout=f`` makes a fixed one: the images in sorted
order, permuted by a generator of fixed seed (``HOLDOUT_SEED``, whatever the run's seed), the
first ``round(f · N)`` held out and the rest for training. The same folder always splits the same.
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
HOLDOUT_SEED = 20_150_101  # fixed: the split of a folder does not depend on a run's seed


def center_crop(image: Image.Image, side: int) -> Image.Image:
    """The central ``side × side`` square (the image must be at least that large)."""
    width, height = image.size
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Scale so that the shorter side is ``size``, then crop the central ``size × size`` square."""
    width, height = image.size
    scale = size / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_width, new_height) != (width, height):
        image = image.resize((new_width, new_height), Image.Resampling.BILINEAR)
    left, top = (new_width - size) // 2, (new_height - size) // 2
    return image.crop((left, top, left + size, top + size))


class ImageFilesDataset(Dataset):
    """Item ``i`` is ``(image, label)`` of ``paths[i]``: float32 ``[C, S, S]`` in [0, 1] and ``labels[i]``.

    Args:
        paths, labels: the image files and their int64 labels ``[N]``.
        image_size: S, the side of the square output.
        channels: 3 (RGB) or 1 (gray, PIL's ITU-R 601 luma).
        crop: None: resize the shorter side to S and keep the central square; a side C: keep the
            central C × C square first, then resize it to S (CelebA's DCGAN-style 108-pixel crop).
    """

    def __init__(self, paths: list[Path], labels: torch.Tensor, *, image_size: int, channels: int, crop=None):
        _check_output(image_size, channels)
        self.paths, self.labels = list(paths), labels
        self.image_size, self.channels, self.crop = image_size, channels, crop

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.paths[index]
        # open_image decodes to 8 bits (16-bit images scaled, not clipped) and names an unreadable
        # file in its one-line error (a ValueError), as fid/stats do.
        image = open_image(path, self.channels)
        if self.crop is not None:
            image = center_crop(image, self.crop)
        image = resize_center_crop(image, self.image_size)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
        pixels = pixels.unsqueeze(0) if self.channels == 1 else pixels.permute(2, 0, 1)
        return pixels.to(torch.float32).div_(255.0), self.labels[index]


class ImageFolderDataset(ImageFilesDataset):
    """Every image under ``root`` (recursively), labelled by its first-level subfolder.

    Args:
        root: the folder, searched recursively.
        image_size: S, the side of the square output (default 64).
        channels: 3 (RGB, default) or 1 (gray, PIL's ITU-R 601 luma).
    """

    def __init__(self, root: str | Path, *, image_size: int = DEFAULT_IMAGE_SIZE, channels: int = 3):
        _check_output(image_size, channels)
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"root must be a folder of images, {self.root} is not a folder")
        paths = list_image_files(self.root)  # the files fid / stats read too
        if not paths:
            raise ValueError(f"no images ({describe_extensions()}) found under {self.root}")
        folders = [self._class_folder(path) for path in paths]
        self.classes = sorted(set(folders))
        index = {name: i for i, name in enumerate(self.classes)}
        labels = torch.tensor([index[name] for name in folders], dtype=torch.int64)
        super().__init__(paths, labels, image_size=image_size, channels=channels)

    def _class_folder(self, path: Path) -> str:
        parts = path.relative_to(self.root).parts
        return parts[0] if len(parts) > 1 else ""


def _check_output(image_size: int, channels: int) -> None:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")


def holdout_indices(count: int, holdout: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, held-out) indices of ``count`` items for a ``holdout`` fraction in (0, 1), fixed by
    ``HOLDOUT_SEED``; a ValueError when either part would be empty."""
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1:
        raise ValueError(f"holdout must be a fraction in (0, 1), got {holdout!r}")
    held = round(holdout * count)
    if not 0 < held < count:
        raise ValueError(f"holdout {holdout} of {count} images leaves {held} held out and {count - held} to train on")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    return order[held:].sort().values, order[:held].sort().values


def load_image_folder(
    root: str | Path,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    holdout: float | None = None,
    train: bool = True,
) -> tuple[ImageFilesDataset, DatasetInfo]:
    """An :class:`ImageFolderDataset` (defaults: 64 pixels, RGB) and its description; with
    ``holdout``, its training part (``train``) or its held-out part (module docstring)."""
    image_size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    channels = 3 if channels is None else channels
    dataset = ImageFolderDataset(root, image_size=image_size, channels=channels)
    classes, split = len(dataset.classes), "all"
    if holdout is not None:
        train_part, held_part = holdout_indices(len(dataset), holdout)
        part = train_part if train else held_part
        split = f"{'train' if train else 'held-out'} part of a fixed {holdout:g} holdout"
        paths = [dataset.paths[i] for i in part.tolist()]
        dataset = ImageFilesDataset(paths, dataset.labels[part], image_size=image_size, channels=channels)
    elif not train:
        raise ValueError(f"{root} is a folder of images with no held-out split: pass holdout=FRACTION")
    color = "RGB" if channels == 3 else "gray"
    info = DatasetInfo(
        name=str(root),
        source=f"{len(dataset):,} images from {Path(root).resolve()} ({color}, center-cropped to {image_size}px)",
        split=split,
        num_samples=len(dataset),
        sample_shape=(channels, image_size, image_size),
        num_classes=classes,
    )
    return dataset, info
