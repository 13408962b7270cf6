"""fastgen.linalg.sqrtm against scipy.linalg.sqrtm and against its defining property S S = A.

Tolerances (float64): 1e-10 relative (Frobenius) for well-conditioned SPD matrices (both routes
are backward stable; condition numbers here are below 1e3). Singular PSD matrices: S S = A to
1e-12 relative, since eigenvalues under the rounding level are set to 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from fastgen.linalg import newton_schulz, sqrtm, upper_congruence


def _spd(batch, d, rank=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    rank = rank or 2 * d
    x = torch.randn(*batch, d, rank, generator=g, dtype=torch.float64)
    return x @ x.transpose(-1, -2) / rank


def _relative(a, b):
    return float((torch.linalg.matrix_norm(a - b) / torch.linalg.matrix_norm(b)).max())


@pytest.mark.parametrize("method", ["eigh", "newton_schulz"])
def test_matches_scipy(method):
    a = _spd((3,), 40)
    root = sqrtm(a, method=method)
    expected = torch.stack([torch.from_numpy(np.real(scipy.linalg.sqrtm(m.numpy()))) for m in a])
    assert root.shape == a.shape and root.dtype == torch.float64
    assert _relative(root, expected) < 1e-10
    assert torch.allclose(root, root.transpose(-1, -2), atol=1e-12)


def test_singular_psd_without_nan():
    a = _spd((2,), 50, rank=10, seed=1)  # rank 10 < d = 50
    a = a - 1e-15 * torch.eye(50)  # tiny negative eigenvalues, as rounding leaves them
    root, residual = sqrtm(a, method="eigh", return_error=True)
    assert torch.isfinite(root).all()
    assert _relative(root @ root, a) < 1e-12
    assert float(residual.max()) < 1e-12


def test_float32_input_keeps_dtype():
    a = _spd((), 16, seed=2).float()
    root = sqrtm(a)
    assert root.dtype == torch.float32
    assert _relative(root.double() @ root.double(), a.double()) < 1e-6


def test_newton_schulz_converges_and_estimates_error():
    a = _spd((4,), 30, seed=3)
    result = newton_schulz(a)
    assert result.steps < 30
    assert float(result.residual.max()) < 1e-12
    assert _relative(result.inverse_root @ result.root, torch.eye(30).expand_as(a)) < 1e-10
    with pytest.warns(RuntimeWarning, match="Newton-Schulz stopped after 2 steps"):
        _, residual = sqrtm(a, method="newton_schulz", max_iter=2, return_error=True)
    assert float(residual.max()) > 1e-6  # the estimate tells that 2 steps were not enough


def test_bad_inputs():
    with pytest.raises(TypeError, match="a must be a torch.Tensor"):
        sqrtm(np.eye(3))
    with pytest.raises(TypeError, match="floating"):
        sqrtm(torch.eye(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="square"):
        sqrtm(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="symmetric"):
        sqrtm(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN or Inf"):
        sqrtm(torch.tensor([[float("nan"), 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="method"):
        sqrtm(torch.eye(2), method="schur")


@pytest.mark.parametrize("lower_triangular", [True, False])
def test_blocked_congruence_matches_direct_product(lower_triangular):
    d = 600  # above two 256-wide blocks: the blocked products (the GPU's and the no-scipy path) run
    sigma = _spd((), d, seed=70)
    factor = torch.linalg.cholesky(_spd((), d, seed=71)) if lower_triangular else _spd((), d, rank=50, seed=72)
    expected = torch.triu(factor.T @ sigma @ factor)
    got = torch.triu(upper_congruence(factor, sigma, lower_triangular))  # eigvalsh reads the upper triangle
    assert (got - expected).abs().max() <= 1e-12 * expected.abs().max()


def test_scipy_congruence_matches_torch():
    from fastgen.linalg import lapack

    sigma, spd = _spd((2,), 40, seed=73), _spd((), 40, seed=74)
    lower = torch.linalg.cholesky(spd)  # one factor broadcast against two matrices
    got = torch.tril(lapack.congruence(lower, sigma))  # only the lower triangle is written
    expected = torch.tril(lower.T @ sigma @ lower)
    assert got.shape == (2, 40, 40) and _relative(got, expected) < 1e-13


def test_trace_sqrt_product_is_the_same_without_scipy(monkeypatch):
    from fastgen.linalg import lapack, trace_sqrt_product

    full, singular = _spd((), 60, seed=75), _spd((), 60, rank=20, seed=76)
    with_scipy = [trace_sqrt_product(a, b)[0] for a, b in ((full, singular), (singular, full), (singular, singular))]
    monkeypatch.setattr(lapack, "_lapack", None)  # blocked products, the eigh factor
    without = [trace_sqrt_product(a, b)[0] for a, b in ((full, singular), (singular, full), (singular, singular))]
    for got, expected in zip(without, with_scipy, strict=True):
        assert abs(float(got) - float(expected)) <= 1e-10 * float(expected)


def test_symmetry_check_covers_every_tile():
    from fastgen.linalg import check_symmetric
    from fastgen.linalg.psd import _asymmetry

    a = _spd((2,), 600, seed=77)  # three 256-wide tiles
    skewed = a.clone()
    skewed[1, 550, 10] += 1.0
    assert _asymmetry(skewed).tolist() == [0.0, 1.0]
    noise = torch.randn(2, 600, 600, generator=torch.Generator().manual_seed(78), dtype=torch.float64)
    assert torch.equal(_asymmetry(noise), (noise - noise.mT).abs().amax(dim=(-2, -1)))
    assert check_symmetric("a", a, torch.zeros(2, dtype=torch.float64)) is a  # exactly symmetric: no copy
    with pytest.raises(ValueError, match=r"a must be symmetric: max \|a_ij - a_ji\| = 1 is beyond rounding"):
        check_symmetric("a", skewed, torch.full((2,), 0.5, dtype=torch.float64))
    within = check_symmetric("a", skewed, torch.full((2,), 2.0, dtype=torch.float64))
    assert torch.equal(within, within.mT) and float(within[1, 550, 10] - a[1, 550, 10]) == 0.5
