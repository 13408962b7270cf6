"""The ring of 8 Gaussians and VEEGAN's mode metrics, against numpy written from the definitions."""

import math

import numpy as np
import pytest
import torch

from fastgen.data import high_quality_fraction, load_dataset, modes_covered, ring_centers, sample_ring
from fastgen.data.gaussians import high_quality_counts

SQRT2 = math.sqrt(2)
CENTERS = np.array(
    [[2, 0], [SQRT2, SQRT2], [0, 2], [-SQRT2, SQRT2], [-2, 0], [-SQRT2, -SQRT2], [0, -2], [SQRT2, -SQRT2]]
)


def reference_counts(points: np.ndarray, threshold: float = 0.06) -> np.ndarray:
    """High-quality samples per mode, by a plain loop over points."""
    counts = np.zeros(8, dtype=np.int64)
    for p in points:
        d = np.sqrt(((CENTERS - p) ** 2).sum(axis=1))
        if d.min() <= threshold:
            counts[d.argmin()] += 1
    return counts


def test_centers():
    np.testing.assert_allclose(ring_centers().numpy(), CENTERS, atol=1e-6)


def test_samples_follow_the_mixture():
    points, modes = sample_ring(80_000, seed=3)
    assert points.shape == (80_000, 2) and points.dtype == torch.float32 and modes.dtype == torch.int64
    frequencies = torch.bincount(modes, minlength=8).double() / 80_000
    # binomial standard error sqrt(p(1-p)/N) ≈ 0.0012: allow 5 of them
    assert (frequencies - 1 / 8).abs().max() < 0.006
    offsets = points.double() - torch.from_numpy(CENTERS)[modes]
    assert offsets.mean(dim=0).abs().max() < 0.001  # the mean of 80,000 N(0, 0.02²): SE 7e-5
    assert abs(offsets.std().item() - 0.02) < 0.0005  # SE of the std ≈ 0.02 / sqrt(2·160,000) = 3.5e-5


def test_seed_reproducible():
    a, _ = sample_ring(100, seed=5)
    b, _ = sample_ring(100, seed=5)
    c, _ = sample_ring(100, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_true_samples_are_high_quality_at_the_chi2_rate():
    points, _ = sample_ring(100_000, seed=0)
    # |x - μ|² / σ² ~ χ²₂, so P(|x - μ| <= 3σ) = 1 - exp(-9/2); SE 3.3e-4, allow 5
    assert abs(high_quality_fraction(points) - (1 - math.exp(-4.5))) < 0.0017
    assert modes_covered(points) == 8


def test_metrics_equal_the_definition_on_random_points():
    rng = np.random.default_rng(0)
    # half near the modes (some within 3σ, some not), half anywhere
    near = CENTERS[rng.integers(0, 8, 500)] + rng.normal(scale=0.04, size=(500, 2))
    anywhere = rng.uniform(-2.5, 2.5, size=(500, 2))
    points = np.concatenate([near, anywhere])
    expected = reference_counts(points)
    samples = torch.from_numpy(points)
    np.testing.assert_array_equal(high_quality_counts(samples).numpy(), expected)
    assert high_quality_fraction(samples) == pytest.approx(expected.sum() / 1000, abs=1e-12)
    for min_samples in (1, 20, 60):
        assert modes_covered(samples, min_samples=min_samples) == int((expected >= min_samples).sum())


def test_threshold_is_three_standard_deviations():
    unit = CENTERS[2] / 2  # radial direction of mode 2
    inside = torch.tensor(CENTERS[2] + 0.0599 * unit).view(1, 2)
    outside = torch.tensor(CENTERS[2] + 0.0601 * unit).view(1, 2)
    assert high_quality_fraction(inside) == 1.0 and high_quality_fraction(outside) == 0.0
    assert high_quality_fraction(outside, std=0.03) == 1.0


def test_mode_collapse_is_seen():
    points, modes = sample_ring(4000, seed=1)
    collapsed = points[modes < 3]  # a generator that found 3 modes
    assert modes_covered(collapsed) == 3
    assert modes_covered(torch.zeros(100, 2)) == 0 and high_quality_fraction(torch.zeros(100, 2)) == 0.0
    between = 2 * torch.tensor([[math.cos(math.pi / 8), math.sin(math.pi / 8)]])  # halfway between two modes
    assert high_quality_fraction(between) == 0.0


def test_min_samples_threshold():
    points, modes = sample_ring(2500, seed=2)
    sparse = torch.cat([points[modes != 0], points[modes == 0][:5]])  # mode 0 only 5 times
    assert modes_covered(sparse, min_samples=1) == 8  # VEEGAN's count
    assert modes_covered(sparse, min_samples=20) == 7
    assert modes_covered(sparse) == 7  # PacGAN's rule: at least a fifth of the fair share


def test_the_default_rule_is_a_fifth_of_the_fair_share():
    centers = ring_centers()
    for held, covered in ((50, 8), (49, 7)):  # 2,000 points: a covered mode needs N / (5K) = 50
        rest = torch.arange(2000 - held) % 7 + 1  # modes 1..7 share the rest
        points = torch.cat([centers[0].expand(held, 2), centers[rest]])
        assert high_quality_counts(points)[0] == held
        assert modes_covered(points) == covered


def test_non_finite_samples_are_low_quality():
    samples = torch.tensor([[2.0, 0.0], [float("nan"), 0.0], [float("inf"), 1.0]])
    assert high_quality_fraction(samples) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "samples, error, message",
    [
        (torch.zeros(5, 3), ValueError, r"samples must have shape \[N, 2\]"),
        (torch.zeros(5), ValueError, r"samples must have shape \[N, 2\]"),
        (torch.zeros(5, 2, dtype=torch.int64), TypeError, "samples must be floating point"),
        (np.zeros((5, 2)), TypeError, "samples must be a torch.Tensor"),
    ],
)
def test_bad_samples(samples, error, message):
    with pytest.raises(error, match=message):
        modes_covered(samples)
    with pytest.raises(error, match=message):
        high_quality_fraction(samples)


def test_bad_arguments():
    with pytest.raises(ValueError, match="samples is empty"):
        high_quality_fraction(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="min_samples"):
        modes_covered(torch.zeros(3, 2), min_samples=0)
    with pytest.raises(ValueError, match="std must be positive"):
        sample_ring(3, std=0.0)


def test_load_dataset_gaussians():
    train, info = load_dataset("gaussians", num_samples=1000, seed=4)
    again, _ = load_dataset("gaussians", num_samples=1000, seed=4)
    test, test_info = load_dataset("gaussians", train=False, num_samples=1000, seed=4)
    assert torch.equal(train.data, again.data) and not torch.equal(train.data, test.data)
    assert (info.split, test_info.split, info.num_samples, info.sample_shape, info.num_classes) == (
        "train", "test", 1000, (2,), 8,
    )  # fmt: skip
    assert "ring of 8 Gaussians (radius 2, std 0.02)" in info.source
    point, mode = train[0]
    assert point.shape == (2,) and torch.linalg.vector_norm(point - ring_centers()[mode]) < 0.2
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("gaussians", image_size=32)
