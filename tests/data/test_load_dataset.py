"""load_dataset: names, sklearn's digits, resizing and channel conversion, limits, bad arguments."""

import numpy as np
import pytest
import torch

from fastgen.data import load_dataset


def test_sklearn_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = datasets.load_digits()
    train, info = load_dataset("digits")
    test, test_info = load_dataset("digits", train=False)
    assert (len(train), len(test), info.sample_shape, info.num_classes) == (1500, 297, (1, 8, 8), 10)
    assert "scikit-learn" in info.source and test_info.split == "test"
    all_images = torch.cat([train.data, test.data])[:, 0]
    torch.testing.assert_close(all_images * 16, torch.from_numpy(bunch.images).float(), rtol=0, atol=1e-5)
    assert torch.cat([train.labels, test.labels]).tolist() == bunch.target.tolist()


def upsample2(x: torch.Tensor, dim: int) -> torch.Tensor:
    dim, n = dim % x.ndim, x.shape[dim]
    previous = x.index_select(dim, (torch.arange(n) - 1).clamp(min=0))
    following = x.index_select(dim, (torch.arange(n) + 1).clamp(max=n - 1))
    even, odd = 0.75 * x + 0.25 * previous, 0.75 * x + 0.25 * following
    return torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)  # interleave


def test_resize_and_channels():
    base, _ = load_dataset("mnist", train=False, num_samples=20)
    rgb, info = load_dataset("mnist", train=False, num_samples=20, image_size=56, channels=3)
    assert rgb.data.shape == (20, 3, 56, 56) and info.sample_shape == (3, 56, 56) and info.num_samples == 20
    assert torch.equal(rgb.data[:, 0], rgb.data[:, 2])
    # bilinear ×2 with half-pixel centres: out[2i] = ¾x[i] + ¼x[i−1], out[2i+1] = ¾x[i] + ¼x[i+1]
    # (indices clamped at the border), along each axis in turn
    torch.testing.assert_close(rgb.data[:, :1], upsample2(upsample2(base.data, -1), -2), rtol=0, atol=1e-6)
    small, _ = load_dataset("mnist", train=False, num_samples=20, image_size=14)
    assert small.data.shape == (20, 1, 14, 14) and small.data.min() >= 0 and small.data.max() <= 1


def test_num_samples_keeps_the_first():
    full, _ = load_dataset("mnist", train=False)
    part, info = load_dataset("mnist", train=False, num_samples=7)
    assert torch.equal(part.data, full.data[:7]) and info.num_samples == 7


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (
            ("cifar",),
            {},
            "name_or_path must be one of mnist, digits, gaussians, cifar10, celeba or a folder, got 'cifar'",
        ),
        (
            ("digits",),
            {"root": "/tmp"},
            "root names the folder of mnist, cifar10, celeba; it does not apply to 'digits'",
        ),
        (("cifar10",), {}, r"cifar10 is read from a folder, never downloaded: pass its root \(--data-root DIR\)"),
        (("celeba",), {}, "celeba is read from a folder, never downloaded"),
        (("mnist",), {"holdout": 0.1}, "holdout splits a folder of images; mnist has a held-out split of its own"),
        (("mnist",), {"channels": 2}, "channels must be 1 or 3"),
        (("mnist",), {"image_size": 0}, "image_size must be a positive"),
        (("mnist",), {"num_samples": 0}, "num_samples must be positive"),
    ],
)
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(*args, **kwargs)


def test_info_reads_well():
    _, info = load_dataset("mnist")
    assert str(info) == "mnist (train, 4,000 samples of 1×28×28): embedded MNIST subset (5,000 digits)"
    assert np.isscalar(info.num_samples)
