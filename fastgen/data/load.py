"""``load_dataset``: one entry point for every dataset the CLI can name, or a folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torch.utils.data import Dataset, Subset

from fastgen.data.celeba import load_celeba
from fastgen.data.cifar10 import load_cifar10
from fastgen.data.datasets import DatasetInfo, LabeledDataset, convert_channels, resize_images
from fastgen.data.gaussians import load_gaussians
from fastgen.data.image_folder import load_image_folder
from fastgen.data.mnist import find_mnist_files, load_mnist
from fastgen.data.sklearn_digits import load_sklearn_digits

DATASET_NAMES = ("mnist", "digits", "gaussians", "cifar10", "celeba")
ROOTED = ("mnist", "cifar10", "celeba")  # the names read from a folder the user names (root)


def load_dataset(
    name_or_path: str | Path,
    *,
    train: bool = True,
    root: str | Path | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    num_samples: int | None = None,
    seed: int = 0,
    holdout: float | None = None,
) -> tuple[Dataset, DatasetInfo]:
    """Load a dataset by name or from a folder; return it and a :class:`DatasetInfo` saying what was used.

    Names:
        ``mnist``: the full MNIST from ``root`` (IDX files, gzipped or not, or torchvision's
        ``ROOT/MNIST/raw``) when given, else the embedded subset (4,000 train / 1,000 test).
        ``digits``: scikit-learn's 8×8 digits (1,500 train / 297 test; needs scikit-learn).
        ``gaussians``: ``num_samples`` points (default 100,000) of the 2-D ring of 8 Gaussians,
        drawn with ``seed``.
        ``cifar10``: CIFAR-10's python batches under ``root`` (``fastgen.data.cifar10``).
        ``celeba``: CelebA's aligned faces under ``root``, 64×64 (``fastgen.data.celeba``).
    A path: a folder holding MNIST's IDX files is read as MNIST; any other folder as images
    (recursively). A folder has no held-out split: ``holdout`` (a fraction in (0, 1)) makes a
    fixed one (``fastgen.data.image_folder``), and without it ``train=False`` is an error.
    Nothing is ever downloaded: a missing file is a FileNotFoundError naming it.

    Images come as float32 ``[C, H, W]`` in [0, 1] with an int64 label per item. The small sets
    (embedded MNIST, digits, gaussians) are in-memory :class:`LabeledDataset` objects that also
    expose ``data [N, C, H, W]`` and ``labels [N]``; the full MNIST (:class:`ByteImageDataset`) and
    folders (:class:`ImageFolderDataset`) convert or decode each item when it is read, for a
    ``DataLoader`` to stream.
    ``image_size`` resizes images to a square side (bilinear; folders: default 64, resize the
    shorter side and center-crop); ``channels`` converts to 1 (gray) or 3 (RGB).
    """
    name = str(name_or_path)
    if root is not None and name not in ROOTED:
        raise ValueError(f"root names the folder of {', '.join(ROOTED)}; it does not apply to {name!r}")
    if holdout is not None and name in DATASET_NAMES:
        raise ValueError(f"holdout splits a folder of images; {name} has a held-out split of its own")
    if name in ("cifar10", "celeba") and root is None:
        raise ValueError(f"{name} is read from a folder, never downloaded: pass its root (--data-root DIR)")
    if name == "cifar10":
        return _limit(*load_cifar10(root, train=train, image_size=image_size, channels=channels), num_samples)
    if name == "celeba":
        return _limit(*load_celeba(root, train=train, image_size=image_size, channels=channels), num_samples)
    if name == "gaussians":
        if image_size is not None or channels is not None:
            raise ValueError("image_size and channels apply to image datasets, not to 'gaussians'")
        return load_gaussians(train=train, num_samples=num_samples, seed=seed)
    if name == "digits":
        return _limit(*_transform_images(*load_sklearn_digits(train=train), image_size, channels), num_samples)
    if name == "mnist":
        return _limit(*load_mnist(train=train, root=root, image_size=image_size, channels=channels), num_samples)
    path = Path(name_or_path)
    if not path.is_dir():
        raise ValueError(f"name_or_path must be one of {', '.join(DATASET_NAMES)} or a folder, got {name!r}")
    if find_mnist_files(path, train=True) is not None or find_mnist_files(path, train=False) is not None:
        if holdout is not None:
            raise ValueError(f"holdout splits a folder of images; {path} holds MNIST, which has a test split")
        return _limit(*load_mnist(train=train, root=path, image_size=image_size, channels=channels), num_samples)
    folder = load_image_folder(path, image_size=image_size, channels=channels, holdout=holdout, train=train)
    return _limit(*folder, num_samples)


def _transform_images(
    dataset: LabeledDataset, info: DatasetInfo, image_size: int | None, channels: int | None
) -> tuple[LabeledDataset, DatasetInfo]:
    if image_size is None and channels is None:
        return dataset, info
    images = resize_images(convert_channels(dataset.data, channels), image_size)
    transformed = LabeledDataset(images, dataset.labels)
    return transformed, replace(info, sample_shape=tuple(images.shape[1:]))


def _limit(dataset: Dataset, info: DatasetInfo, num_samples: int | None) -> tuple[Dataset, DatasetInfo]:
    """Keep the first ``num_samples`` items (a quick run on part of the data)."""
    if num_samples is None or num_samples >= len(dataset):
        return dataset, info
    if num_samples < 1:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if isinstance(dataset, LabeledDataset):
        limited = LabeledDataset(dataset.data[:num_samples], dataset.labels[:num_samples])
    else:
        limited = Subset(dataset, range(num_samples))
    return limited, replace(info, num_samples=num_samples)
