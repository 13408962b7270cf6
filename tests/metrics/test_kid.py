"""kid against torch-fidelity's and torchmetrics' KID on the same features and subsets, and against a
direct O(N²) evaluation of the unbiased MMD² for the exact (subsets=0) estimate.

Tolerances. In float64 every implementation sums the same kernel values in a different order: the
kernel values are O(10) and the sums hold up to 10⁵ of them, so the sums agree to about
1e-15 · 10⁶ relative; KID is a difference of such sums, O(1e-2) here, hence 1e-10 relative (1e-12
absolute) on the mean and 1e-9 absolute-relative on the std. The float32 case is held to the float64
result within 1e-4 of the kernel's size (each float32 Gram entry is off by about sqrt(d) · 6e-8 ≈
3e-7 relative; the references' own float32 error is of the same order).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from fastgen.metrics import _pairwise, kid

kid_module = importlib.import_module("fastgen.metrics.kid")  # the package's attribute `kid` is the function


def features(n: int, d: int = 16, seed: int = 0, scale: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=torch.float64) * scale).to(dtype)


@pytest.fixture
def small_panels(monkeypatch):
    """Panels of a few rows, so that every path crosses many panel boundaries (primes: ragged ends)."""
    monkeypatch.setattr(kid_module, "SYMMETRIC_PANEL_ROWS", 7)
    monkeypatch.setattr(_pairwise, "MIN_PANEL_ROWS", 5)
    monkeypatch.setattr(_pairwise, "PANEL_ELEMENTS", 11 * 50)


def torch_fidelity_kid(real, fake, subsets, subset_size, seed):
    from torch_fidelity.metric_kid import kid_features_to_metric

    result = kid_features_to_metric(
        fake,  # torch-fidelity's input1: the generated samples, whose subset is drawn first
        real,
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=seed,
        verbose=False,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
    )
    return result["kernel_inception_distance_mean"], result["kernel_inception_distance_std"]


def direct_mmd2(x: torch.Tensor, y: torch.Tensor, degree=3, gamma=None, coef=1.0) -> float:
    """The unbiased MMD² written from its definition, every kernel matrix in full (float64)."""
    x, y = x.double(), y.double()
    gamma = 1 / x.shape[1] if gamma is None else gamma
    kxx, kyy, kxy = ((a @ b.T * gamma + coef) ** degree for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    same_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    same_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(same_x + same_y - 2 * kxy.mean())


@pytest.mark.parametrize("panels", ["default", "small"])
@pytest.mark.parametrize(("subsets", "subset_size", "seed"), [(7, 50, 0), (3, 119, 2020), (1, 120, 5)])
def test_equals_torch_fidelity_on_the_same_subsets(request, panels, subsets, subset_size, seed):
    if panels == "small":
        request.getfixturevalue("small_panels")
    real, fake = features(130), features(120, seed=1, scale=1.3)
    expected_mean, expected_std = torch_fidelity_kid(real, fake, subsets, subset_size, seed)
    mean, std = kid(real, fake, subsets, subset_size, seed)
    assert mean == pytest.approx(expected_mean, rel=1e-10, abs=1e-12)
    assert std == pytest.approx(expected_std, rel=1e-9, abs=1e-12)


def test_one_subset_of_all_samples_equals_torchmetrics_and_torch_fidelity(small_panels):
    """With subset_size = N and one subset, every library's subset is the whole set: no randomness."""
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = features(90, seed=3), features(90, seed=4, scale=1.2)

    class Identity(torch.nn.Module):  # the "images" are the features
        def forward(self, x):
            return x

    metric = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=90)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    torchmetrics_mean, torchmetrics_std = (float(v) for v in metric.compute())
    fidelity_mean, fidelity_std = torch_fidelity_kid(real, fake, 1, 90, 0)
    mean, std = kid(real, fake, subsets=1, subset_size=90)
    assert mean == pytest.approx(torchmetrics_mean, rel=1e-10, abs=1e-12)
    assert mean == pytest.approx(fidelity_mean, rel=1e-10, abs=1e-12)
    assert std == torchmetrics_std == fidelity_std == 0.0
    assert kid(real, fake, subsets=0) == pytest.approx((mean, 0.0), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("panels", ["default", "small"])
@pytest.mark.parametrize(("n_real", "n_fake"), [(2, 2), (61, 47), (47, 61)])
def test_exact_estimate_equals_the_definition(request, panels, n_real, n_fake):
    if panels == "small":
        request.getfixturevalue("small_panels")
    real, fake = features(n_real, seed=5), features(n_fake, seed=6, scale=0.8)
    mean, std = kid(real, fake, subsets=0)
    assert mean == pytest.approx(direct_mmd2(real, fake), rel=1e-10, abs=1e-12)
    assert std == 0.0


def test_kernel_parameters_and_numpy_input():
    real, fake = features(40, seed=7), features(50, seed=8, scale=2.0)
    expected = direct_mmd2(real, fake, degree=2, gamma=0.3, coef=0.5)
    assert kid(real.numpy(), fake.numpy(), 0, degree=2, gamma=0.3, coef=0.5)[0] == pytest.approx(expected, rel=1e-10)


def test_float32_is_close_to_float64(small_panels):
    real, fake = features(200, d=64, seed=9), features(200, d=64, seed=10, scale=1.05)
    exact = kid(real, fake, 10, 100)
    single = kid(real.float(), fake.float(), 10, 100)
    kernel_size = (0.25 * 64 / 64 + 1) ** 3  # E[k] for uniform features: gamma E[x·y] = 1/4
    assert single[0] == pytest.approx(exact[0], abs=1e-4 * kernel_size)
    assert single[1] == pytest.approx(exact[1], abs=1e-4 * kernel_size)


def test_same_distribution_is_near_zero_and_a_shift_is_not():
    real, fake = features(400, seed=11), features(400, seed=12)
    same, _ = kid(real, fake, 20, 200)
    shifted, _ = kid(real, fake + 0.2, 20, 200)
    assert abs(same) < 5e-3 < shifted


def test_seeded_subsets_are_reproducible_and_seed_dependent():
    real, fake = features(100, seed=13), features(100, seed=14, scale=1.1)
    assert kid(real, fake, 5, 30, seed=1) == kid(real, fake, 5, 30, seed=1)
    assert kid(real, fake, 5, 30, seed=1) != kid(real, fake, 5, 30, seed=2)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r, f: kid(r, f[:, :3]), ValueError, "same feature size d"),
        (lambda r, f: kid(r, f, 5, 65), ValueError, "fake has 60 samples, fewer than subset_size = 65"),
        (lambda r, f: kid(r[:1], f, 0), ValueError, "real has 1 samples, fewer than 2"),
        (lambda r, f: kid(r.int(), f), TypeError, "real must have a floating dtype"),
        (lambda r, f: kid(r, f[0]), ValueError, r"fake must be an \[N, d\] feature matrix"),
        (lambda r, f: kid(r.tolist(), f), TypeError, "real must be a torch.Tensor or numpy array"),
        (
            lambda r, f: kid(r, torch.cat([f[:2], f[:1] * np.nan])),
            ValueError,
            r"fake contains NaN or Inf in 1 rows: \[2\]",
        ),
        (lambda r, f: kid(r, f, -1), ValueError, "subsets must be an int >= 0"),
        (lambda r, f: kid(r, f, 2, 1), ValueError, "subset_size must be an int >= 2"),
        (lambda r, f: kid(r, f, 2, 10, seed=-1), ValueError, "seed must be an int"),
        (lambda r, f: kid(r, f, 2, 10, gamma=0.0), ValueError, "gamma must be > 0"),
        (lambda r, f: kid(r, f, 2, 10, degree=0), ValueError, "degree must be an int >= 1"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    real, fake = features(70), features(60, seed=1)
    with pytest.raises(error, match=match):
        call(real, fake)
