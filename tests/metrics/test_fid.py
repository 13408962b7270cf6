"""frechet_distance and FIDReference against pytorch-fid, torchmetrics and scipy.

References: pytorch-fid's ``calculate_frechet_distance`` (it calls ``scipy.linalg.sqrtm(..., disp=False)``,
which the pinned scipy < 1.18 still has) and torchmetrics' ``FrechetInceptionDistance`` fed by a
custom feature extractor. The bar is 1e-6 relative agreement with pytorch-fid in float64, for
full-rank and for rank-deficient (N < d) covariances. pytorch-fid's own rounding on a singular
product is of the order of 1e-6 absolute here (it returns -1.2e-6 for two identical rank-deficient
sets), which the identical-sets test shows ours does not have.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from fastgen.metrics import FeatureStats, FIDReference, frechet_distance


def _stats(n, d, seed, scale=1.0, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    # ReLU-like, correlated, non-negative features, as a CNN's pooled activations are
    mixing = torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5
    x = torch.relu(torch.randn(n, d, generator=g, dtype=torch.float64) @ mixing * scale + offset)
    return FeatureStats(d).update(x)


def _pytorch_fid(a: FeatureStats, b: FeatureStats) -> float:
    from pytorch_fid.fid_score import calculate_frechet_distance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy deprecates sqrtm's disp=
        return float(calculate_frechet_distance(a.mean.numpy(), a.cov.numpy(), b.mean.numpy(), b.cov.numpy()))


def _relative(got, expected):
    return abs(float(got) - expected) / abs(expected)


@pytest.mark.parametrize("method", ["eigh", "newton_schulz", "scipy"])
def test_full_rank_matches_pytorch_fid(method):
    a, b = _stats(600, 64, seed=0), _stats(500, 64, seed=1, scale=1.2, offset=0.1)
    expected = _pytorch_fid(a, b)
    assert _relative(frechet_distance(a.mean, a.cov, b.mean, b.cov, method=method), expected) < 1e-6


@pytest.mark.parametrize("method", ["eigh", "scipy"])
def test_rank_deficient_matches_pytorch_fid(method):
    a, b = _stats(100, 256, seed=2), _stats(100, 256, seed=3, scale=1.1)  # N = 100 < d = 256: rank 99
    expected = _pytorch_fid(a, b)
    got = frechet_distance(a.mean, a.cov, b.mean, b.cov, method=method)
    assert torch.isfinite(got) and _relative(got, expected) < 1e-6


def test_one_singular_one_full_rank():
    a, b = _stats(30, 64, seed=4), _stats(400, 64, seed=5)  # Cholesky falls back to the other factor
    assert _relative(frechet_distance(a.mean, a.cov, b.mean, b.cov), _pytorch_fid(a, b)) < 1e-6
    assert _relative(frechet_distance(b.mean, b.cov, a.mean, a.cov), _pytorch_fid(a, b)) < 1e-6


@pytest.mark.slow
def test_bar_case_n1000_d2048():
    a, b = _stats(1000, 2048, seed=6), _stats(1000, 2048, seed=7, scale=1.1, offset=0.05)
    assert _relative(frechet_distance(a.mean, a.cov, b.mean, b.cov), _pytorch_fid(a, b)) < 1e-6


def test_identical_rank_deficient_sets_give_zero_not_negative():
    a = _stats(40, 128, seed=8)
    fid = frechet_distance(a.mean, a.cov, a.mean, a.cov)
    # exact value 0; the trace of a 128-dim covariance is ~30 here, so 1e-9 is far below any rounding bound
    assert 0.0 <= float(fid) < 1e-9


def test_tiny_negative_eigenvalues_give_no_nan():
    a, b = _stats(50, 80, seed=9), _stats(60, 80, seed=10)
    vals, vecs = torch.linalg.eigh(a.cov)
    vals[vals < 1e-10] = -1e-14  # what rounding leaves in a PSD covariance
    sigma = vecs @ torch.diag(vals) @ vecs.T
    sigma = (sigma + sigma.T) / 2
    for method in ("eigh", "newton_schulz"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # Newton-Schulz is slow on singular input
            fid = frechet_distance(a.mean, sigma, b.mean, b.cov, method=method)
        assert torch.isfinite(fid) and fid >= 0


def test_matches_torchmetrics_with_custom_extractor():
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Features(torch.nn.Module):  # the "images" are already features
        num_features = 32

        def forward(self, x):
            return x

    g = torch.Generator().manual_seed(11)
    real = torch.randn(300, 32, generator=g, dtype=torch.float64)
    fake = torch.randn(250, 32, generator=g, dtype=torch.float64) * 1.3 + 0.2
    metric = FrechetInceptionDistance(feature=Features())
    metric.update(real, real=True)
    metric.update(fake, real=False)
    expected = float(metric.compute())
    ours = frechet_distance(*_mean_cov(real), *_mean_cov(fake))
    assert _relative(ours, expected) < 1e-6


def _mean_cov(x):
    stats = FeatureStats(x.shape[1]).update(x)
    return stats.mean, stats.cov


def test_batched_and_broadcast():
    sets = [_stats(90, 24, seed=20 + i) for i in range(3)]
    ref = _stats(200, 24, seed=30)
    mu = torch.stack([s.mean for s in sets])
    sigma = torch.stack([s.cov for s in sets])
    batched = frechet_distance(mu, sigma, ref.mean, ref.cov)  # [3] against one reference
    assert batched.shape == (3,)
    for i, s in enumerate(sets):
        assert _relative(batched[i], _pytorch_fid(s, ref)) < 1e-6
    pairwise = frechet_distance(mu[:, None], sigma[:, None], mu[None], sigma[None])  # [3, 3]
    assert pairwise.shape == (3, 3) and torch.allclose(pairwise, pairwise.T, rtol=1e-9, atol=1e-9)
    assert float(pairwise.diagonal().abs().max()) < 1e-9
    ns = frechet_distance(mu, sigma, ref.mean, ref.cov, method="newton_schulz")
    assert torch.allclose(ns, batched, rtol=1e-8, atol=0)


@pytest.mark.parametrize("method", ["eigh", "newton_schulz", "scipy"])
def test_reference_object(method, tmp_path):
    ref_stats, other = _stats(400, 48, seed=40), _stats(300, 48, seed=41, scale=0.9)
    expected = _pytorch_fid(ref_stats, other)
    ref = FIDReference.from_stats(ref_stats, method=method)
    assert _relative(ref.distance(other), expected) < 1e-6
    assert _relative(ref.distance(other.mean, other.cov), expected) < 1e-6
    path = tmp_path / "ref.npz"
    ref_stats.save(path)
    assert _relative(FIDReference.from_npz(path, method=method).distance(other), expected) < 1e-6
    few = _stats(20, 48, seed=42)  # rank-deficient generated set against the reference
    assert _relative(FIDReference(ref_stats.mean, ref_stats.cov).distance(few), _pytorch_fid(ref_stats, few)) < 1e-6


def test_numpy_inputs_and_float32():
    a, b = _stats(200, 16, seed=50), _stats(200, 16, seed=51)
    got = frechet_distance(a.mean.numpy(), a.cov.numpy(), b.mean.float(), b.cov.float())
    assert got.dtype == torch.float64 and _relative(got, _pytorch_fid(a, b)) < 1e-5  # float32 inputs: 1e-7 rounding


def test_newton_schulz_on_rank_deficient_sets():
    a, b = _stats(10, 64, seed=60), _stats(12, 64, seed=61)  # rank 9 and 11 of 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero eigenvalues stay zero in the iteration: no warning either
        got = frechet_distance(a.mean, a.cov, b.mean, b.cov, method="newton_schulz")
    assert _relative(got, _pytorch_fid(a, b)) < 1e-6


def test_newton_schulz_warns_when_its_error_is_large(monkeypatch):
    import functools

    from fastgen.linalg import trace_sqrt

    a, b = _stats(300, 64, seed=62), _stats(300, 64, seed=63)
    monkeypatch.setattr(trace_sqrt, "newton_schulz", functools.partial(trace_sqrt.newton_schulz, max_iter=3))
    with pytest.warns(RuntimeWarning, match="error estimate"):
        frechet_distance(a.mean, a.cov, b.mean, b.cov, method="newton_schulz")


def test_bad_inputs():
    mu, sigma = torch.zeros(4), torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="mu1 and mu2 must have the same d"):
        frechet_distance(mu, sigma, torch.zeros(5), torch.eye(5))
    with pytest.raises(ValueError, match="sigma1 must be"):
        frechet_distance(mu, torch.eye(5), mu, sigma)
    with pytest.raises(ValueError, match="square"):
        frechet_distance(mu, torch.zeros(4, 3), mu, sigma)
    with pytest.raises(ValueError, match="NaN or Inf"):
        frechet_distance(mu, sigma, torch.full((4,), float("nan")), sigma)
    with pytest.raises(TypeError, match="floating"):
        frechet_distance(torch.zeros(4, dtype=torch.int64), sigma, mu, sigma)
    with pytest.raises(TypeError, match="mu1 must be a torch.Tensor or numpy array"):
        frechet_distance([0.0] * 4, sigma, mu, sigma)
    with pytest.raises(ValueError, match="do not broadcast"):
        frechet_distance(torch.zeros(2, 4), sigma.expand(2, 4, 4), torch.zeros(3, 4), sigma.expand(3, 4, 4))
    with pytest.raises(ValueError, match="method"):
        frechet_distance(mu, sigma, mu, sigma, method="schur")
    ref = FIDReference(mu, sigma)
    with pytest.raises(ValueError, match="reference's d = 4"):
        ref.distance(torch.zeros(3), torch.eye(3))
    with pytest.raises(TypeError, match="needs sigma"):
        ref.distance(mu)
    with pytest.raises(ValueError, match="not a readable .npz"):
        FIDReference.from_npz(__file__)
    assert np.isclose(float(frechet_distance(mu, sigma, mu + 1, sigma)), 4.0)


# Input checks (issue 9 item 4): each refusal is one ValueError naming the argument.

METHODS = ["eigh", "newton_schulz", "scipy"]


@pytest.mark.parametrize("method", METHODS)
def test_indefinite_covariance_is_refused_naming_it(method):
    mu, eye = torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="sigma1 must be positive semi-definite: its smallest eigenvalue -1 "):
        frechet_distance(mu, -eye, mu, eye, method=method)  # was 0.0
    with pytest.raises(ValueError, match="sigma2 must be positive semi-definite"):
        frechet_distance(mu, eye, mu, -eye, method=method)
    with pytest.raises(ValueError, match="sigma must be positive semi-definite"):
        FIDReference(mu, -eye, method=method)
    with pytest.raises(ValueError, match="sigma must be positive semi-definite"):
        FIDReference(mu, eye, method=method).distance(mu, -eye)


def _null_direction_shifted(shift_in_tolerances):
    """A rank-deficient covariance (d = 80, N = 50) plus c v v^T along a unit null vector v, with c a
    multiple of the rounding tolerance 10 d eps_float32 max|S| (max|S| moves by < 1e-3 of itself)."""
    a = _stats(50, 80, seed=80)
    v = torch.linalg.eigh(a.cov).eigenvectors[:, :1]  # eigenvalue 0 (rank 49 of 80)
    c = shift_in_tolerances * 10 * 80 * torch.finfo(torch.float32).eps * float(a.cov.abs().max())
    return a, a.cov + c * (v @ v.T), c


def test_negative_eigenvalue_within_rounding_is_accepted_beyond_refused():
    b = _stats(60, 80, seed=81)
    a, within, c = _null_direction_shifted(-0.5)
    # A rank-one change c v v^T of S_1 moves Tr((S_1 S_2)^(1/2)) by at most sqrt(|c| v^T S_2 v) (the trace
    # of a PSD square root is subadditive), so FID by at most twice that plus |c|: here 1e-4 relative.
    bound = 2 * (abs(c) * float(torch.linalg.eigvalsh(b.cov)[-1])) ** 0.5 + abs(c)
    for method in METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # Newton-Schulz is slow on singular input
            fid = frechet_distance(a.mean, within, b.mean, b.cov, method=method)
        assert torch.isfinite(fid) and abs(float(fid) - _pytorch_fid(a, b)) <= bound
    _, beyond, _ = _null_direction_shifted(-2.0)
    with pytest.raises(ValueError, match="sigma1 must be positive semi-definite"):
        frechet_distance(a.mean, beyond, b.mean, b.cov)


@pytest.mark.parametrize("method", METHODS)
def test_asymmetric_covariance_is_refused_naming_it(method):
    a, b = _stats(200, 16, seed=82), _stats(200, 16, seed=83)
    skewed = a.cov.clone()
    skewed[0, 1] += 0.01 * float(a.cov.abs().max())  # far beyond rounding (10 d eps32 = 2e-5 relative)
    with pytest.raises(ValueError, match="sigma2 must be symmetric"):
        frechet_distance(b.mean, b.cov, a.mean, skewed, method=method)
    with pytest.raises(ValueError, match="sigma must be symmetric"):
        FIDReference(a.mean, skewed, method=method)


def test_asymmetry_within_rounding_gives_one_answer_on_every_route():
    a, b = _stats(200, 16, seed=84), _stats(200, 16, seed=85)
    g = torch.Generator().manual_seed(86)
    noise = torch.rand(16, 16, generator=g, dtype=torch.float64) * 1e-9 * float(a.cov.abs().max())
    skewed = a.cov + noise  # asymmetric at 1e-9 relative: rounding, so its symmetric part is used
    expected = _pytorch_fid(a, b)
    answers = [frechet_distance(a.mean, cov, b.mean, b.cov, method=m) for m in METHODS for cov in (skewed, skewed.T)]
    assert max(_relative(x, expected) for x in answers) < 1e-6


def test_empty_and_nonfinite_inputs_are_refused_naming_them():
    mu, sigma = torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"mu1 must have d >= 1 features, got shape \(0,\)"):
        frechet_distance(torch.zeros(0), torch.zeros(0, 0), torch.zeros(0), torch.zeros(0, 0))
    with pytest.raises(ValueError, match="sigma2 must have d >= 1"):
        frechet_distance(mu, sigma, mu, torch.zeros(3, 0, 0))
    bad = sigma.clone()
    bad[1, 2] = float("inf")
    with pytest.raises(ValueError, match="sigma2 contains NaN or Inf"):
        frechet_distance(mu, sigma, mu, bad)
    with pytest.raises(ValueError, match="mu must have d >= 1"):
        FIDReference(torch.zeros(0), torch.zeros(0, 0))


@pytest.mark.parametrize("method", METHODS)
def test_a_collapsed_set_with_zero_covariance_is_accepted(method):
    b = _stats(200, 16, seed=87)
    mu, zero = torch.full((16,), 0.5, dtype=torch.float64), torch.zeros(16, 16, dtype=torch.float64)
    expected = float((mu - b.mean).square().sum() + b.cov.trace())  # Tr((0 S)^(1/2)) = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no Newton-Schulz "divergence" on S = 0 either
        warnings.filterwarnings("ignore", "Matrix is singular")  # scipy's sqrtm of the product 0
        got = [frechet_distance(mu, zero, b.mean, b.cov, method=method)]
        got.append(FIDReference(b.mean, b.cov, method=method).distance(mu, zero))
    assert all(abs(float(fid) - expected) <= 1e-6 * expected for fid in got)
