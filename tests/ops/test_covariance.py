"""fastgen.ops.covariance and shifted_moments against np.cov / np.sum in float64, on features with
a large common mean (centring must not lose the digits of the spread), the cpp kernel's tiling, and
the shift of the moments. Values vs the reference, gradients, double backward, opcheck, compile,
strided and bad inputs are in the op contract (test_contract.py).

Tolerances, relative to the largest entry of the float64 reference: float64 inputs 1e-12 (a sum of N
products, N <= 500, rounding at 1e-16 each); float32 inputs 2e-6 (float32 products and sums of N <= 500
terms: about sqrt(N) * 6e-8 typically, bounded well under N * 6e-8 = 3e-5; 2e-6 leaves margin over
the 3e-7 measured); float16/bfloat16 are computed in float32 after the cast and rounded on return,
so the reference is np.cov of the cast values within one ulp of the dtype.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgen.ops.covariance import COVARIANCE, covariance, shifted_moments
from fastgen.ops.reference.covariance import compute_dtype
from tests.conftest import device_for

TOLERANCE = {torch.float64: 1e-12, torch.float32: 2e-6, torch.float16: 2e-6, torch.bfloat16: 2e-6}
SHAPES = [(1, 2, 1), (1, 7, 5), (3, 50, 33), (2, 37, 70)]  # (B, N, d): edges, a prime, not a block multiple


@pytest.fixture
def backend(backend_name):
    """The backends with a covariance kernel (there is no CUDA one: Triton serves GPUs)."""
    if backend_name not in COVARIANCE.implementations:
        pytest.skip(f"covariance has no {backend_name} implementation")
    return backend_name


def _np_cov(x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1]
    return torch.stack([torch.from_numpy(np.cov(xb.double().numpy(), rowvar=False).reshape(d, d)) for xb in x])


def _dtypes(backend):
    """The input dtypes whose compute dtype the backend takes (half precision is widened first)."""
    if backend not in COVARIANCE.capabilities:  # the reference takes every dtype
        return list(TOLERANCE)
    return [d for d in TOLERANCE if compute_dtype(d) in COVARIANCE.capabilities[backend].compute]


def _features(shape, dtype, seed=0, offset=100.0):
    g = torch.Generator().manual_seed(seed)
    # a large common mean, as CNN features have: centring must not lose the digits of the spread
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 2 + offset).to(dtype)


@pytest.mark.parametrize("shape", SHAPES)
def test_covariance_matches_np_cov(backend, shape):
    for dtype in _dtypes(backend):
        x = _features(shape, dtype)
        expected = _np_cov(x)
        got = covariance(x.to(device_for(backend)), backend=backend).cpu()
        assert got.dtype == dtype and got.shape == (shape[0], shape[2], shape[2])
        error = (got.double() - expected).abs().max() / expected.abs().max()
        # half-precision outputs are rounded to their dtype on return
        tolerance = TOLERANCE[dtype] if dtype in (torch.float64, torch.float32) else torch.finfo(dtype).eps
        assert error <= tolerance, (backend, dtype, float(error))


def test_unbatched_and_blocked_sizes(backend):
    # d = 1100 > 2 tiles of the cpp kernel, so its upper-triangle tiling and mirroring are exercised
    d = 1100 if backend != "triton" else 130
    x = _features((40, d), torch.float32, seed=1)
    got = covariance(x.to(device_for(backend)), backend=backend).cpu()
    expected = _np_cov(x[None])[0]
    assert got.shape == (d, d)
    assert (got.double() - expected).abs().max() / expected.abs().max() <= TOLERANCE[torch.float32]
    assert torch.equal(got, got.T)


def test_shifted_moments(backend):
    x = _features((2, 45, 40), torch.float32, seed=2)
    shift = x[:, 0, :].double() + 0.5
    device = device_for(backend)
    sums, gram = (t.cpu() for t in shifted_moments(x.to(device), shift.float().to(device), backend=backend))
    centred = x.double() - shift.float().double()[:, None, :]
    expected_sums, expected_gram = centred.sum(1), centred.transpose(1, 2) @ centred
    assert sums.dtype == torch.float32 and gram.shape == (2, 40, 40)
    assert (sums.double() - expected_sums).abs().max() <= 2e-6 * centred.abs().sum(1).max()
    assert (gram.double() - expected_gram).abs().max() <= 2e-6 * expected_gram.abs().max()
    # unbatched, and empty x giving zeros
    s1, g1 = (t.cpu() for t in shifted_moments(x[0].to(device), shift[0].float().to(device), backend=backend))
    assert torch.allclose(s1, sums[0]) and torch.allclose(g1, gram[0])
    s0, g0 = shifted_moments(x[0, :0].to(device), shift[0].float().to(device), backend=backend)
    assert not s0.any() and not g0.any()
