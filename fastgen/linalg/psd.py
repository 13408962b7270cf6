"""Symmetric positive semi-definite (PSD) matrices in float64: the rounding level of their
eigenvalues, their factors F with A = F F^T, and the check that an input is one.

A computed covariance is symmetric PSD only up to rounding: its smallest eigenvalues may come out
slightly negative and its two triangles may differ in the last bits. The check below tells such
rounding from a matrix that is not a covariance at all (a sign error, the wrong array), and the
factors below never take the square root of a rounding-level eigenvalue.
"""

from __future__ import annotations

import torch

# Covariances reach the metrics computed in float32 as often as in float64 (float32 features,
# FeatureStats(precision="float32")), whatever dtype they are then stored in, so rounding is judged
# at float32's eps (or the input's, if coarser). A covariance entry carries an error of a few eps
# times the largest entry, and an entrywise error E moves eigenvalues by at most
# |E|_2 <= d max|E_ij|. The worst case measured, a one-pass float32 covariance of 2048-dim features
# whose mean is 5 times their spread (cancellation), has a smallest eigenvalue of -0.9 d eps max|S|;
# 10 d eps max|S| keeps a 10x margin above it, and still rejects any matrix that is not a covariance
# (-I: smallest eigenvalue -max|S|, d <= 10^5).
_ROUNDING_MARGIN = 10.0


_TILE = 256  # the symmetry check compares a row tile with the transposed column tile: cache-sized


def rounding_tolerance(a: torch.Tensor, input_dtype: torch.dtype) -> torch.Tensor:
    """Per matrix [...]: how far from symmetric PSD a [..., d, d] may be from rounding alone,
    10 d eps max|a_ij| with eps that of float32 or of ``input_dtype``, whichever is coarser."""
    eps = max(torch.finfo(torch.float32).eps, torch.finfo(input_dtype).eps)
    low, high = torch.aminmax(a.flatten(-2), dim=-1)  # one pass, no |a| copy
    return _ROUNDING_MARGIN * a.shape[-1] * eps * torch.maximum(high, -low)


def _asymmetry(a: torch.Tensor) -> torch.Tensor:
    """max |a_ij - a_ji| per matrix [...], tile by tile over the upper triangle: a whole-matrix
    a - a^T reads a^T with a stride of d and costs more than the Cholesky factor at d = 2048."""
    asymmetry = torch.zeros(a.shape[:-2], dtype=a.dtype, device=a.device)
    for i in range(0, a.shape[-1], _TILE):
        rows, columns = a[..., i : i + _TILE, i:], a[..., i:, i : i + _TILE]
        asymmetry = torch.maximum(asymmetry, (rows - columns.transpose(-1, -2)).abs().amax(dim=(-2, -1)))
    return asymmetry


def check_symmetric(name: str, a: torch.Tensor, tolerance: torch.Tensor) -> torch.Tensor:
    """a [..., d, d] made exactly symmetric, (a + a^T) / 2 (a itself when it already is, as computed
    covariances usually are), when |a_ij - a_ji| <= tolerance [...]; otherwise a ValueError naming
    ``name``. Every route then reads the same matrix, whichever triangle it reads."""
    asymmetry = _asymmetry(a)
    if bool((asymmetry > tolerance).any()):
        worst = int((asymmetry - tolerance).flatten().argmax())
        raise ValueError(
            f"{name} must be symmetric: max |{name}_ij - {name}_ji| = {float(asymmetry.flatten()[worst]):.3g} is "
            f"beyond rounding ({float(tolerance.flatten()[worst]):.3g}, 10 d eps of its largest entry)"
        )
    if not bool(asymmetry.any()):
        return a
    return (a + a.transpose(-1, -2)) / 2


def cholesky(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L [..., d, d] lower with L L^T = a, ok [...]) for symmetric a; ok is False where a is not
    numerically positive definite (L is then meaningless there)."""
    factor, info = torch.linalg.cholesky_ex(a)
    return factor, info == 0


def cholesky_or_check_psd(name: str, a: torch.Tensor, tolerance: torch.Tensor) -> torch.Tensor | None:
    """The Cholesky factor of symmetric a [..., d, d] when every matrix is positive definite; else None,
    after checking that a is PSD up to rounding (a + tolerance I positive definite), or a ValueError
    naming ``name``.

    Cholesky of a + delta I succeeds exactly when its smallest eigenvalue exceeds -delta, up to
    Cholesky's own backward error (about d eps_float64 |a|, far below delta = tolerance).
    """
    factor, ok = cholesky(a)
    if bool(ok.all()):
        return factor
    shift = tolerance.clamp_min(torch.finfo(a.dtype).tiny)  # a = 0 (a collapsed set) is PSD too
    shifted = a + shift[..., None, None] * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    if not bool(cholesky(shifted)[1].all()):
        smallest = torch.linalg.eigvalsh(a)[..., 0]  # only on this error path
        worst = int((smallest + tolerance).flatten().argmin())
        raise ValueError(
            f"{name} must be positive semi-definite: its smallest eigenvalue {float(smallest.flatten()[worst]):.6g} "
            f"is below -{float(tolerance.flatten()[worst]):.3g} (10 d eps of its largest entry); is it a covariance?"
        )
    return None


def clamp_rounding(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Eigenvalues [..., d] with those at or below d * eps * max|lambda| set to 0 (negatives included):
    the eigensolver's rounding level, below which an eigenvalue is indistinguishable from 0 and its
    square root (up to sqrt(d eps) |A|^(1/2)) would add noise that no longer vanishes with rounding."""
    d = eigenvalues.shape[-1]
    eps = torch.finfo(eigenvalues.dtype).eps
    level = d * eps * eigenvalues.abs().amax(dim=-1, keepdim=True)
    return torch.where(eigenvalues > level, eigenvalues, torch.zeros_like(eigenvalues))


def sqrt_factor(a: torch.Tensor) -> torch.Tensor:
    """F = V diag(sqrt(lambda)) in float64 from A = V diag(lambda) V^T, so that F F^T = A
    (rounding-level eigenvalues dropped). Works for any PSD A, singular or not."""
    eigenvalues, vectors = torch.linalg.eigh(a.to(torch.float64))
    return vectors * clamp_rounding(eigenvalues).sqrt().unsqueeze(-2)
