"""fastgen.ops.covariance and shifted_moments on every backend against np.cov / np.sum in float64.

Tolerances, relative to the largest entry of the float64 reference: float64 inputs 1e-12 (a sum of N
products, N <= 500, rounding at 1e-16 each); float32 inputs 2e-6 (float32 products and sums of N <= 500
terms: about sqrt(N) * 6e-8 typically, bounded well under N * 6e-8 = 3e-5; 2e-6 leaves margin over
the 3e-7 measured); float16/bfloat16 are computed in float32 after the cast, so the reference is
np.cov of the cast values with the float32 tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgen import available_backends
from fastgen.ops.covariance import covariance, shifted_moments
from fastgen.ops.reference import covariance as reference
from tests.conftest import device_for

BACKENDS = [b for b in ("torch", "cpp", "triton") if b in available_backends()]
TOLERANCE = {torch.float64: 1e-12, torch.float32: 2e-6, torch.float16: 2e-6, torch.bfloat16: 2e-6}
SHAPES = [(1, 2, 1), (1, 7, 5), (3, 50, 33), (2, 37, 70)]  # (B, N, d): edges, a prime, not a block multiple


def _np_cov(x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1]
    return torch.stack([torch.from_numpy(np.cov(xb.double().numpy(), rowvar=False).reshape(d, d)) for xb in x])


def _dtypes(backend):
    return [torch.float32] if backend == "triton" else [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def _features(shape, dtype, seed=0, offset=100.0):
    g = torch.Generator().manual_seed(seed)
    # a large common mean, as CNN features have: centring must not lose the digits of the spread
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 2 + offset).to(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_covariance_matches_np_cov(backend, shape):
    for dtype in _dtypes(backend):
        x = _features(shape, dtype)
        expected = _np_cov(x)
        got = covariance(x, backend=backend)
        assert got.dtype == dtype and got.shape == (shape[0], shape[2], shape[2])
        error = (got.double() - expected).abs().max() / expected.abs().max()
        # half-precision outputs are rounded to their dtype on return
        tolerance = TOLERANCE[dtype] if dtype in (torch.float64, torch.float32) else torch.finfo(dtype).eps
        assert error <= tolerance, (backend, dtype, float(error))


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_and_blocked_sizes(backend):
    # d = 1100 > 2 tiles of the cpp kernel, so its upper-triangle tiling and mirroring are exercised
    d = 1100 if backend != "triton" else 130
    x = _features((40, d), torch.float32, seed=1)
    got = covariance(x, backend=backend)
    expected = _np_cov(x[None])[0]
    assert got.shape == (d, d)
    assert (got.double() - expected).abs().max() / expected.abs().max() <= TOLERANCE[torch.float32]
    assert torch.equal(got, got.T)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shifted_moments(backend):
    x = _features((2, 45, 40), torch.float32, seed=2)
    shift = x[:, 0, :].double() + 0.5
    sums, gram = shifted_moments(x, shift.float(), backend=backend)
    centred = x.double() - shift.float().double()[:, None, :]
    expected_sums, expected_gram = centred.sum(1), centred.transpose(1, 2) @ centred
    assert sums.dtype == torch.float32 and gram.shape == (2, 40, 40)
    assert (sums.double() - expected_sums).abs().max() <= 2e-6 * centred.abs().sum(1).max()
    assert (gram.double() - expected_gram).abs().max() <= 2e-6 * expected_gram.abs().max()
    # unbatched, and empty x giving zeros
    s1, g1 = shifted_moments(x[0], shift[0].float(), backend=backend)
    assert torch.allclose(s1, sums[0]) and torch.allclose(g1, gram[0])
    s0, g0 = shifted_moments(x[0, :0], shift[0].float(), backend=backend)
    assert not s0.any() and not g0.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_input(backend):
    x = _features((60, 2 * 24), torch.float32, seed=3)[:, ::2]
    assert not x.is_contiguous()
    expected = _np_cov(x[None])[0]
    assert (covariance(x, backend=backend).double() - expected).abs().max() <= 2e-6 * expected.abs().max()


def test_opcheck_cpp_ops():
    if "cpp" not in BACKENDS:
        pytest.skip("fastgen._C is not built")
    x = _features((2, 9, 6), torch.float64, seed=4).requires_grad_()
    torch.library.opcheck(torch.ops.fastgen.covariance, (x,))
    torch.library.opcheck(torch.ops.fastgen.shifted_moments, (x, x[:, 0].detach().clone().requires_grad_()))


def test_opcheck_triton_ops():
    if "triton" not in BACKENDS:
        pytest.skip("triton cannot run here")
    x = _features((2, 9, 6), torch.float32, seed=5)
    if torch.cuda.is_available():
        x, checks = x.cuda(), ("test_schema", "test_faketensor", "test_aot_dispatch_dynamic")
    else:
        checks = ("test_schema",)  # the interpreter runs the kernel on fake tensors, which have no data
    torch.library.opcheck(torch.ops.fastgen.covariance_triton, (x,), test_utils=checks)
    torch.library.opcheck(torch.ops.fastgen.shifted_moments_triton, (x, x[:, 0].clone()), test_utils=checks)


def _weighted_grads(fn, inputs, seed=9):
    """Gradients of sum_k <out_k, w_k> for random weights w_k: every output's backward is exercised."""
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=torch.float64).to(o)).sum() for o in outputs)
    return [t.double().cpu() for t in torch.autograd.grad(loss, inputs)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_match_reference(backend):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 11, 7, generator=g, dtype=torch.float64) + 3
    shift = torch.randn(2, 7, generator=g, dtype=torch.float64)
    dtype = torch.float32 if backend == "triton" else torch.float64
    tolerance = {"rtol": 1e-5, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}

    def prepared(*tensors):
        return [t.to(device_for(backend), dtype).requires_grad_() for t in tensors]

    got = _weighted_grads(lambda a: covariance(a, backend=backend), prepared(x))
    want = _weighted_grads(reference.covariance, [x.clone().requires_grad_()])
    torch.testing.assert_close(got, want, **tolerance)
    got = _weighted_grads(lambda a, c: shifted_moments(a, c, backend=backend), prepared(x, shift))
    want = _weighted_grads(reference.shifted_moments, [x.clone().requires_grad_(), shift.clone().requires_grad_()])
    torch.testing.assert_close(got, want, **tolerance)


def test_gradcheck_cpp():
    if "cpp" not in BACKENDS:
        pytest.skip("fastgen._C is not built")
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 6, 4, generator=g, dtype=torch.float64).requires_grad_()
    shift = torch.randn(2, 4, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: covariance(a, backend="cpp"), (x,))
    assert torch.autograd.gradcheck(lambda a, c: shifted_moments(a, c, backend="cpp"), (x, shift))


def test_compile_fullgraph():
    if "cpp" not in BACKENDS:
        pytest.skip("fastgen._C is not built")
    x = _features((2, 20, 8), torch.float32, seed=8)
    compiled = torch.compile(lambda a: covariance(a, backend="cpp"), fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), covariance(x, backend="cpp"))


def test_bad_inputs():
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        covariance(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="floating"):
        covariance(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[N, d\] or \[B, N, d\]"):
        covariance(torch.zeros(3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        covariance(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="shift must have shape"):
        shifted_moments(torch.zeros(5, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="backend"):
        covariance(torch.zeros(3, 2), backend="nope")
    if "triton" in BACKENDS:
        with pytest.raises(RuntimeError, match="triton takes float32"):
            covariance(torch.zeros(3, 2, dtype=torch.float64), backend="triton")
