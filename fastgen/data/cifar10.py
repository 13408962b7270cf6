"""CIFAR-10 from the python-pickle batches of a local folder, never downloaded.

The files are those of ``cifar-10-python.tar.gz`` (Krizhevsky, "Learning Multiple Layers of
Features from Tiny Images", 2009; https://www.cs.toronto.edu/~kriz/cifar.html), which
torchvision's ``CIFAR10(root, download=False)`` reads: ``ROOT/cifar-10-batches-py/`` (or ROOT
itself) holding ``data_batch_1`` … ``data_batch_5`` (50,000 training images) and ``test_batch``
(10,000). Each is a pickled dict whose ``data`` is uint8 ``[10000, 3072]`` (the red, green and blue
32×32 planes of each image, row-major) and ``labels`` a list of 10,000 class indices.

A pickle can run code when it is read, so these are read by an unpickler that admits only what
the batches hold (dicts, lists, bytes and numpy's array reconstruction), as
``torch.load(weights_only=True)`` does for checkpoints: anything else is refused, naming the file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from fastgen.data.datasets import ByteImageDataset, DatasetInfo

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
IMAGE_BYTES = 3 * 32 * 32
# what a CIFAR batch pickle refers to: numpy's array reconstruction (numpy 1 and 2 module names)
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"holds {module}.{name}, which a CIFAR-10 batch does not")
        return super().find_class(module, name)


def find_cifar10_folder(root: str | Path) -> Path | None:
    """The folder of the batches under ``root`` (``root/cifar-10-batches-py`` or ``root``), or None."""
    for folder in (Path(root) / FOLDER, Path(root)):
        if (folder / TRAIN_FILES[0]).is_file() or (folder / TEST_FILES[0]).is_file():
            return folder
    return None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: uint8 images ``[N, 3, 32, 32]`` and int64 labels ``[N]``; a ValueError naming
    the file when it is not a CIFAR-10 batch."""
    try:
        with path.open("rb") as file:
            batch = _BatchUnpickler(file, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{path} is not a CIFAR-10 python batch: {error or type(error).__name__}") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR-10 python batch: it holds a {type(batch).__name__}, not a dict")
    data, labels = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        shape = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: expected 'data' uint8 [N, {IMAGE_BYTES}], got {shape}")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path} holds {data.shape[0]} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must be classes 0-9, found {int(labels.min())}..{int(labels.max())}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(
    root: str | Path, *, train: bool = True, image_size: int | None = None, channels: int | None = None
) -> tuple[ByteImageDataset, DatasetInfo]:
    """The training (50,000) or test (10,000) images of CIFAR-10 under ``root``, as float ``[3, 32, 32]``
    in [0, 1] converted item by item (``channels``, ``image_size`` as ``load_dataset`` says).

    Raises FileNotFoundError naming the file looked for when a batch is missing.
    """
    folder = find_cifar10_folder(root)
    names = TRAIN_FILES if train else TEST_FILES
    if folder is None:
        raise FileNotFoundError(
            f"no CIFAR-10 batches under {root}: looked for {Path(root) / FOLDER / names[0]} "
            f"(the python version, cifar-10-python.tar.gz, extracted)"
        )
    parts = []
    for name in names:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"CIFAR-10 batch {folder / name} is missing")
        parts.append(read_batch(folder / name))
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    dataset = ByteImageDataset(images, labels, image_size=image_size, channels=channels)
    info = DatasetInfo(
        name="cifar10",
        source=f"CIFAR-10 from {folder.resolve()}",
        split="train" if train else "test",
        num_samples=len(dataset),
        sample_shape=dataset.sample_shape,
        num_classes=10,
    )
    return dataset, info
