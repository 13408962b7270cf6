"""CelebA's aligned faces from a local folder, never downloaded, at 64×64 as DCGAN trained on them.

The files are CelebA's "Align&Cropped Images" (Liu, Luo, Wang & Tang, "Deep Learning Face
Attributes in the Wild", ICCV 2015; https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html): the
folder ``img_align_celeba/`` of 202,599 JPEGs of 178×218 pixels and the official split
``list_eval_partition.txt`` (lines ``000001.jpg 0``: 0 train, 1 validation, 2 test), both directly
under ROOT or under ``ROOT/celeba/`` (torchvision's layout). Training reads split 0 (162,770
images); the held-out images are split 2, the test set (19,962).

Each image is cropped to its central 108×108 square, which holds the face, and resized to 64×64
(bilinear, antialiased): the preprocessing of DCGAN-tensorflow (T. Kim,
github.com/carpedm20/DCGAN-tensorflow, ``--crop`` with ``input_height=108``) that CelebA GAN results
since have followed.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fastgen.data.datasets import DatasetInfo
from fastgen.data.image_folder import ImageFilesDataset

IMAGES = "img_align_celeba"
PARTITION = "list_eval_partition.txt"
SPLITS = {True: 0, False: 2}  # train -> the training split, held out -> the test split
CROP = 108
IMAGE_SIZE = 64


def find_celeba_folder(root: str | Path) -> Path:
    """``root`` or ``root/celeba``, whichever holds the partition file; FileNotFoundError naming what
    is missing otherwise."""
    for folder in (Path(root), Path(root) / "celeba"):
        if (folder / PARTITION).is_file():
            if not (folder / IMAGES).is_dir():
                raise FileNotFoundError(f"CelebA: {folder / IMAGES} is missing (the aligned images, extracted)")
            return folder
    raise FileNotFoundError(
        f"no CelebA under {root}: looked for {Path(root) / PARTITION} (the official split) and {IMAGES}/ beside it"
    )


def read_partition(path: Path) -> dict[int, list[str]]:
    """The file names of each split (0, 1, 2) in ``list_eval_partition.txt``; a ValueError naming the
    file and line when a line is not ``NAME SPLIT``."""
    splits: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}, line {number}: expected 'IMAGE.jpg 0|1|2', got {line.strip()!r}")
        splits[int(fields[1])].append(fields[0])
    return splits


def load_celeba(
    root: str | Path, *, train: bool = True, image_size: int | None = None, channels: int | None = None
) -> tuple[ImageFilesDataset, DatasetInfo]:
    """CelebA's training or test images, float ``[C, S, S]`` in [0, 1], decoded item by item."""
    folder = find_celeba_folder(root)
    names = read_partition(folder / PARTITION)[SPLITS[train]]
    if not names:
        raise ValueError(f"{folder / PARTITION} lists no image of split {SPLITS[train]}")
    first = folder / IMAGES / names[0]
    if not first.is_file():
        raise FileNotFoundError(f"CelebA: {first}, listed in {PARTITION}, is missing")
    image_size = IMAGE_SIZE if image_size is None else image_size
    channels = 3 if channels is None else channels
    paths = [folder / IMAGES / name for name in names]
    labels = torch.zeros(len(paths), dtype=torch.int64)  # identities are not used
    dataset = ImageFilesDataset(paths, labels, image_size=image_size, channels=channels, crop=CROP)
    info = DatasetInfo(
        name="celeba",
        source=f"CelebA aligned faces from {folder.resolve()} (central {CROP}px crop resized to {image_size}px)",
        split="train" if train else "test",
        num_samples=len(dataset),
        sample_shape=(channels, image_size, image_size),
        num_classes=1,
    )
    return dataset, info
