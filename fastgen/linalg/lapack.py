"""float64 LAPACK on the CPU through scipy (the LAPACK its wheels ship, OpenBLAS) for what torch
does not offer: the congruence L^T S L (dsygst, which uses the symmetry of S and of the result)
and the pivoted Cholesky factor (dpstrf). One matrix at a time; torch tensors in and out.

The matrices pass to LAPACK without transposing copies: torch's Cholesky factor is already in
Fortran (column-major) order, and a C-contiguous symmetric S read in Fortran order is S^T = S.

Not the Cholesky factor itself: dpotrf here is 1.4x faster than torch's (MKL) on one core, but
2-3x slower with two threads on a loaded machine (OpenBLAS's threads wait on each other while
descheduled), where torch's holds up.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    from scipy.linalg import lapack as _lapack
except ImportError:  # scipy is optional: torch's own routes then do
    _lapack = None


def usable(*tensors: torch.Tensor) -> bool:
    """Whether these tensors can go through scipy's LAPACK: scipy installed, float64, on the CPU."""
    return _lapack is not None and all(t.device.type == "cpu" and t.dtype == torch.float64 for t in tensors)


def _matrices(a: torch.Tensor) -> torch.Tensor:
    return a.reshape(-1, *a.shape[-2:])


def congruence(factor: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """M = L^T S L [..., d, d] for lower-triangular L and symmetric S (broadcast), exact on and
    below the diagonal (the rest is not written: read it with ``eigvalsh(M, UPLO="L")``)."""
    shape = torch.broadcast_shapes(factor.shape, sigma.shape)
    results = []
    for lower, matrix in zip(_matrices(factor.expand(shape)), _matrices(sigma.expand(shape)), strict=True):
        s_fortran = np.array(matrix.numpy().T, order="F")  # S^T = S, copied (dsygst overwrites it)
        reduced, info = _lapack.dsygst(s_fortran, np.asfortranarray(lower.numpy()), itype=2, lower=1, overwrite_a=1)
        if info != 0:
            raise RuntimeError(f"LAPACK dsygst failed with info = {info}")
        results.append(torch.from_numpy(reduced))
    return results[0].reshape(shape) if len(results) == 1 else torch.stack(results).reshape(shape)


def pivoted_cholesky(a: torch.Tensor) -> torch.Tensor | None:
    """F [d, r] with F F^T = a for one PSD matrix a [d, d] of numerical rank r: P^T a P = L L^T by
    the pivoted Cholesky factorisation (dpstrf), F = P L. For a singular a (N <= d samples) much
    cheaper than the eigh factor (0.5 s against 2.5 s for the whole FID with N = 1000, d = 2048).
    None when LAPACK finds rank 0 (a = 0) or refuses the argument."""
    packed, pivots, rank, info = _lapack.dpstrf(np.asfortranarray(a.numpy()), lower=1)
    if info < 0 or rank == 0:
        return None
    lower = np.tril(packed)[:, :rank]
    factor = np.empty_like(lower)
    factor[pivots - 1] = lower
    return torch.from_numpy(factor)
