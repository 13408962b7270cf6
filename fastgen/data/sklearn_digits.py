"""scikit-learn's 8×8 handwritten digits (1,797 images, gray levels 0-16), shipped with scikit-learn.

They are the test part of the UCI "Optical Recognition of Handwritten Digits" set, which has no
split of its own here; we hold out the last 297 images (train = the first 1,500).
"""

from __future__ import annotations

import torch

from fastgen.data.datasets import DatasetInfo, LabeledDataset

NUM_TRAIN = 1500
GRAY_LEVELS = 16  # pixel values are counts of set bits in 4×4 blocks: 0..16


def load_sklearn_digits(*, train: bool = True) -> tuple[LabeledDataset, DatasetInfo]:
    """Float images ``[N, 1, 8, 8]`` in [0, 1] (value / 16) and int64 labels; N = 1,500 train or 297 test."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "the 'digits' dataset needs scikit-learn: pip install scikit-learn (or fastgen[data])"
        ) from error
    bunch = load_digits()
    part = slice(None, NUM_TRAIN) if train else slice(NUM_TRAIN, None)
    images = torch.as_tensor(bunch.images[part], dtype=torch.float32).div_(GRAY_LEVELS).unsqueeze(1)
    labels = torch.as_tensor(bunch.target[part], dtype=torch.int64)
    dataset = LabeledDataset(images, labels)
    info = DatasetInfo(
        name="digits",
        source="scikit-learn's 8×8 digits (sklearn.datasets.load_digits, 1,797 images)",
        split="train" if train else "test",
        num_samples=len(dataset),
        sample_shape=(1, 8, 8),
        num_classes=10,
    )
    return dataset, info
