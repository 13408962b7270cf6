"""Tr((S_1 S_2)^(1/2)) for symmetric PSD S_1, S_2 [..., d, d] (float64), the term of the Fréchet
distance that needs linear algebra, by a symmetric route, never through a (complex) Schur form.

For any factor S_1 = F F^T, S_1 S_2 = F (F^T S_2 F) F^-1 when F is invertible (and by continuity
otherwise) has the eigenvalues of the symmetric PSD matrix M = F^T S_2 F, so

    Tr((S_1 S_2)^(1/2)) = sum_i sqrt(lambda_i(M)).

F is the Cholesky factor of S_1 (or of S_2, the roles being symmetric); when both are singular
(N <= d samples), the pivoted Cholesky factor of S_1 (d x rank, so M is rank x rank), or
V diag(sqrt(lambda)) from eigh without scipy. On the GPU, ``trace_sqrt_newton_schulz`` takes
S_1^(1/2) and M^(1/2) by Newton-Schulz instead, GEMMs only.
"""

from __future__ import annotations

import torch

from fastgen.linalg import lapack
from fastgen.linalg.psd import cholesky, clamp_rounding, sqrt_factor
from fastgen.linalg.sqrtm import newton_schulz

_BLOCK = 256  # tile side of the triangular products; below 2 tiles plain matmuls are as fast


def upper_congruence(factor: torch.Tensor, sigma: torch.Tensor, lower_triangular: bool) -> torch.Tensor:
    """M = F^T S F for F and S [..., d, d], exact on and above the diagonal (what eigvalsh(UPLO="U") reads).

    With a lower-triangular F, column block J of S F only needs the rows of F from J on, and row
    block I of F^T (S F) only the rows of S F from I on; M's symmetry halves the second product again.
    """
    d = factor.shape[-1]
    if d < 2 * _BLOCK:
        return torch.triu(factor.transpose(-1, -2) @ sigma @ factor)
    if lower_triangular:
        shape = torch.broadcast_shapes(factor.shape, sigma.shape)
        product = torch.empty(shape, dtype=factor.dtype, device=factor.device)
        for j in range(0, d, _BLOCK):
            product[..., :, j : j + _BLOCK] = sigma[..., :, j:] @ factor[..., j:, j : j + _BLOCK]
    else:
        product = sigma @ factor
    start = (lambda i: i) if lower_triangular else (lambda i: 0)
    m = torch.zeros_like(product)
    for i in range(0, d, _BLOCK):
        k = start(i)
        m[..., i : i + _BLOCK, i:] = factor[..., k:, i : i + _BLOCK].transpose(-1, -2) @ product[..., k:, i:]
    return m


def congruence_eigenvalues(factor: torch.Tensor, sigma: torch.Tensor, lower_triangular: bool) -> torch.Tensor:
    """Eigenvalues [..., d] of M = F^T S F.

    On the CPU with a Cholesky factor, LAPACK's dsygst forms M (``fastgen.linalg.lapack``; 0.4 s
    against 1.0 s for the blocked torch products at d = 2048 on one core here); elsewhere the
    blocked products do.
    """
    if lower_triangular and lapack.usable(factor, sigma):
        return torch.linalg.eigvalsh(lapack.congruence(factor, sigma), UPLO="L")
    return torch.linalg.eigvalsh(upper_congruence(factor, sigma, lower_triangular), UPLO="U")


def trace_sqrt_eigenvalues(eigenvalues: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum_i sqrt(lambda_i), error estimate) for eigenvalues [..., d] of a PSD matrix.

    Each eigenvalue is known to within level = d * eps * lambda_max; the estimate sums half the spread
    of sqrt over [lambda - level, lambda + level].
    """
    kept = clamp_rounding(eigenvalues)
    d = eigenvalues.shape[-1]
    level = d * torch.finfo(eigenvalues.dtype).eps * eigenvalues.abs().amax(dim=-1, keepdim=True)
    spread = (kept + level).sqrt() - (kept - level).clamp_min(0).sqrt()
    return kept.sqrt().sum(dim=-1), spread.sum(dim=-1) / 2


def _trace_sqrt_pivoted(sigma1: torch.Tensor, sigma2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Through the pivoted Cholesky factor of a singular sigma1, one matrix at a time (CPU, scipy);
    None where that factor is not to be had."""
    if not lapack.usable(sigma1):
        return None
    shape = torch.broadcast_shapes(sigma1.shape, sigma2.shape)
    firsts = sigma1.expand(shape).reshape(-1, *shape[-2:])
    seconds = sigma2.expand(shape).reshape(-1, *shape[-2:])
    traces, errors = [], []
    for first, second in zip(firsts, seconds, strict=True):
        f = lapack.pivoted_cholesky(first)
        if f is None:
            return None
        trace, error = trace_sqrt_eigenvalues(torch.linalg.eigvalsh(f.transpose(0, 1) @ second @ f))
        traces.append(trace)
        errors.append(error)
    return torch.stack(traces).reshape(shape[:-2]), torch.stack(errors).reshape(shape[:-2])


def trace_sqrt_product(
    sigma1: torch.Tensor,
    sigma2: torch.Tensor,
    cholesky1: torch.Tensor | None = None,
    cholesky2: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Tr((S_1 S_2)^(1/2)), error estimate) [...] for symmetric PSD float64 S_1, S_2 [..., d, d].

    ``cholesky1``/``cholesky2``: the Cholesky factors where already known (None: S is singular, or not
    computed yet; a factor is then tried here).
    """
    for first, second, known in ((sigma1, sigma2, cholesky1), (sigma2, sigma1, cholesky2)):
        factor = known
        if factor is None:
            factor, ok = cholesky(first)
            factor = factor if bool(ok.all()) else None
        if factor is not None:
            return trace_sqrt_eigenvalues(congruence_eigenvalues(factor, second, lower_triangular=True))
    pivoted = _trace_sqrt_pivoted(sigma1, sigma2)
    if pivoted is not None:
        return pivoted
    return trace_sqrt_eigenvalues(congruence_eigenvalues(sqrt_factor(sigma1), sigma2, lower_triangular=False))


def trace_sqrt_newton_schulz(
    root1: torch.Tensor, residual1: torch.Tensor, sigma2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tr((S_1^(1/2) S_2 S_1^(1/2))^(1/2)) with its error estimate, from S_1^(1/2) and its residual
    (``newton_schulz(S_1)``).

    First order, Tr((A + E)^(1/2)) - Tr(A^(1/2)) = Tr(A^(-1/2) E) / 2, bounded by |A^(-1/2)|_F |E|_F / 2,
    with E the iteration's residual; an error r in S_1^(1/2) changes M, so the trace, by about r relatively.
    """
    m = root1 @ sigma2 @ root1
    m = (m + m.transpose(-1, -2)) / 2
    result = newton_schulz(m)
    trace = result.root.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    norm_m = torch.linalg.matrix_norm(m)
    error = torch.linalg.matrix_norm(result.inverse_root) * result.residual * norm_m / 2 + residual1 * trace
    # M = 0 (a collapsed set, S = 0): the trace is exactly 0, and M^(-1/2) is meaningless (inf * 0)
    return trace, torch.where(norm_m > 0, error, torch.zeros_like(error))
