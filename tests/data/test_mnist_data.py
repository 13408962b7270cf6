"""MNIST: the embedded subset, and the full set read from a folder of IDX files."""

import hashlib

import numpy as np
import pytest
import torch

from fastgen.data import find_mnist_files, load_dataset, load_embedded_mnist
from fastgen.data.mnist import EMBEDDED_PATH

from .idx_files import write_idx, write_mnist


def test_embedded_subset_is_small_and_well_formed():
    assert EMBEDDED_PATH.stat().st_size < 2_000_000
    with np.load(EMBEDDED_PATH) as archive:
        assert sorted(archive.files) == ["images", "labels", "num_train"]
        images, labels = archive["images"], archive["labels"]
        assert images.dtype == np.uint8 and images.shape == (5000, 28, 28)
        assert labels.dtype == np.int64 and labels.shape == (5000,)
        assert int(archive["num_train"]) == 4000
    # 500 digits per class, 100 of them held out; no digit twice
    np.testing.assert_array_equal(np.bincount(labels[:4000]), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(labels[4000:]), np.full(10, 100))
    assert len({hashlib.sha1(image.tobytes()).digest() for image in images}) == 5000
    # MNIST's statistics: white strokes (every image reaches 254 or 255) on black, mean pixel 0.1307
    assert images.reshape(5000, -1).max(axis=1).min() >= 254 and images[:, 0, :].max() == 0
    assert abs(images.mean() / 255 - 0.1307) < 0.005


@pytest.mark.parametrize("train, n", [(True, 4000), (False, 1000)])
def test_load_dataset_embedded(train, n):
    dataset, info = load_dataset("mnist", train=train)
    images, labels = load_embedded_mnist(train=train)
    assert info.source == "embedded MNIST subset (5,000 digits)"
    assert (info.split, info.num_samples, info.sample_shape, info.num_classes) == (
        "train" if train else "test", n, (1, 28, 28), 10,
    )  # fmt: skip
    assert dataset.data.shape == (n, 1, 28, 28) and dataset.data.dtype == torch.float32
    torch.testing.assert_close(dataset.data[:, 0] * 255, torch.from_numpy(images).float(), rtol=0, atol=1e-4)
    torch.testing.assert_close(dataset.labels, torch.from_numpy(labels))
    image, label = dataset[3]
    assert image.shape == (1, 28, 28) and int(label) == int(labels[3])


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("layout", [".", "MNIST/raw"])
def test_full_mnist_from_folder(tmp_path, gzipped, layout):
    arrays = write_mnist(tmp_path / layout, gzipped=gzipped)
    for train, prefix in ((True, "train"), (False, "t10k")):
        dataset, info = load_dataset("mnist", train=train, root=tmp_path)
        images, labels = arrays[prefix]
        assert info.source == f"MNIST from {tmp_path.resolve()}"
        assert info.num_samples == len(images)
        # the full set streams: items are converted when read, nothing float is held
        assert not hasattr(dataset, "data") and dataset.images.dtype == torch.uint8
        streamed = torch.stack([dataset[i][0] for i in range(len(dataset))])
        torch.testing.assert_close(streamed[:, 0] * 255, torch.from_numpy(images).float(), rtol=0, atol=1e-4)
        torch.testing.assert_close(dataset.labels, torch.from_numpy(labels.astype(np.int64)))
    # a folder path alone is recognised as MNIST
    _, info = load_dataset(tmp_path)
    assert info.name == "mnist" and info.source.startswith("MNIST from")


def test_dotted_file_names_are_found(tmp_path):
    write_idx(tmp_path / "train-images.idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels.idx1-ubyte", np.zeros(2, np.uint8))
    assert find_mnist_files(tmp_path) == (tmp_path / "train-images.idx3-ubyte", tmp_path / "train-labels.idx1-ubyte")
    assert find_mnist_files(tmp_path, train=False) is None


def test_missing_folder_is_an_error_not_a_silent_fallback(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", root=tmp_path)


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((3, 28, 28), np.int32), np.zeros(3, np.uint8), "expected uint8 images"),
        (np.zeros((3, 32, 32), np.uint8), np.zeros(3, np.uint8), r"\[N, 28, 28\]"),
        (np.zeros((3, 28, 28), np.uint8), np.zeros(4, np.uint8), "3 images but"),
        (np.zeros((3, 28, 28), np.uint8), np.full(3, 10, np.uint8), "digits 0-9"),
        (np.zeros((3, 28, 28), np.uint8), np.zeros((3, 1), np.uint8), "expected uint8 labels"),
    ],
)
def test_foreign_idx_files_are_refused(tmp_path, images, labels, message):
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match=message):
        load_dataset("mnist", root=tmp_path)


def test_corrupt_gzipped_mnist_names_the_file(tmp_path):
    write_mnist(tmp_path, gzipped=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", root=tmp_path)
