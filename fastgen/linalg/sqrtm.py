"""Principal square root of batched symmetric positive semi-definite matrices.

Two routes:
- ``"eigh"``: A = V diag(lambda) V^T, A^(1/2) = V diag(sqrt(lambda)) V^T in float64 (Higham,
  "Functions of Matrices", 2008, ch. 6), rounding-level eigenvalues taken as 0; the CPU default.
- ``"newton_schulz"``: the coupled Newton-Schulz iteration (Higham 2008, eq. 6.35; Lin & Maji,
  "Improved Bilinear Pooling with CNNs", BMVC 2017), nothing but GEMMs, so it runs batched on a
  GPU: with Y_0 = A / c (c = |A|_F), Z_0 = I,

      T_k = (3I - Z_k Y_k) / 2,   Y_{k+1} = Y_k T_k,   Z_{k+1} = T_k Z_k,

  Y_k -> (A / c)^(1/2) and Z_k -> (A / c)^(-1/2) quadratically once the spectrum of Z_k Y_k is
  near 1 (eigenvalues of A / c in (0, 1] all converge; a tiny eigenvalue lambda needs about
  log_1.5(1 / sqrt(lambda)) steps to get there). It stops when |Y_{k+1} - Y_k|_F <= tol |Y_{k+1}|_F.
  The error estimate is the relative residual |Y^2 - A/c|_F / |A/c|_F. The CUDA default.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch

from fastgen.linalg.psd import clamp_rounding

METHODS = ("auto", "eigh", "newton_schulz")


class NewtonSchulz(NamedTuple):
    """Result of the iteration on A [..., d, d]: root ~ A^(1/2), inverse_root ~ A^(-1/2) (where A is
    invertible), residual = |root^2 - A|_F / |A|_F per matrix [...], and the steps taken."""

    root: torch.Tensor
    inverse_root: torch.Tensor
    residual: torch.Tensor
    steps: int


def newton_schulz(a: torch.Tensor, *, max_iter: int = 100, tol: float | None = None) -> NewtonSchulz:
    """Coupled Newton-Schulz iteration for the square root of a [..., d, d], in a's dtype.

    ``tol`` defaults to 10 * d * eps of the dtype (relative step size at which it stops).
    """
    d = a.shape[-1]
    eye = torch.eye(d, dtype=a.dtype, device=a.device)
    scale = torch.linalg.matrix_norm(a).clamp_min(torch.finfo(a.dtype).tiny)[..., None, None]
    tol = 10 * d * torch.finfo(a.dtype).eps if tol is None else tol
    y, z = a / scale, eye.expand_as(a).clone()
    steps = 0
    for steps in range(1, max_iter + 1):  # noqa: B007  (steps is reported)
        t = 1.5 * eye - 0.5 * (z @ y)
        y_next, z = y @ t, t @ z
        change = torch.linalg.matrix_norm(y_next - y) / torch.linalg.matrix_norm(y_next).clamp_min(1e-300)
        y = y_next
        if bool((change <= tol).all()):
            break
    residual = torch.linalg.matrix_norm(y @ y - a / scale)
    root_scale = scale.sqrt()
    return NewtonSchulz(y * root_scale, z / root_scale, residual, steps)


def _check(a: torch.Tensor) -> None:
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"a must be a torch.Tensor, got {type(a).__name__}")
    if not a.is_floating_point():
        raise TypeError(f"a must have a floating dtype, got {a.dtype}")
    if a.dim() < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"a must be [..., d, d] (square matrices), got shape {tuple(a.shape)}")
    if not bool(torch.isfinite(a).all()):
        raise ValueError("a contains NaN or Inf")
    asym = torch.linalg.matrix_norm(a - a.transpose(-1, -2)).amax() if a.numel() else 0.0
    size = torch.linalg.matrix_norm(a).amax() if a.numel() else 0.0
    if asym > 1e3 * a.shape[-1] * torch.finfo(a.dtype).eps * size:
        raise ValueError(f"a must be symmetric; |a - a^T|_F = {float(asym):.3g} for |a|_F = {float(size):.3g}")


def _eigh_root(a: torch.Tensor) -> torch.Tensor:
    """V diag(sqrt(lambda)) V^T computed in float64, returned in a's dtype."""
    eigenvalues, vectors = torch.linalg.eigh(a.to(torch.float64))
    root = (vectors * clamp_rounding(eigenvalues).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)
    return root.to(a.dtype)


def sqrtm(
    a: torch.Tensor, *, method: str = "auto", max_iter: int = 100, tol: float | None = None, return_error: bool = False
):
    """Principal square root of symmetric PSD matrices a [..., d, d].

    Args:
        a: symmetric positive semi-definite matrices, any leading batch shape, floating dtype.
        method: ``"eigh"`` (float64 eigendecomposition; CPU default), ``"newton_schulz"`` (GEMMs in
            a's dtype; CUDA default) or ``"auto"``.
        max_iter, tol: Newton-Schulz limits (see ``newton_schulz``).
        return_error: also return the relative residual |S^2 - a|_F / |a|_F per matrix (float64).

    Returns:
        S [..., d, d] in a's dtype with S = S^T, S S ~ a; or (S, residual) with ``return_error``.
        Newton-Schulz warns when it stops at ``max_iter`` with a residual above 1e3 * d * eps.

    Equivalent to ``V @ diag(sqrt(clamp(L, 0))) @ V.T`` with ``L, V = torch.linalg.eigh(a)``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _check(a)
    if method == "auto":
        method = "newton_schulz" if a.device.type == "cuda" else "eigh"
    if method == "eigh":
        root = _eigh_root(a)
        if not return_error:
            return root
        r64, a64 = root.to(torch.float64), a.to(torch.float64)
        residual = torch.linalg.matrix_norm(r64 @ r64 - a64) / torch.linalg.matrix_norm(a64).clamp_min(1e-300)
        return root, residual
    result = newton_schulz(a, max_iter=max_iter, tol=tol)
    if not bool(torch.isfinite(result.root).all()):
        warnings.warn(
            "sqrtm: Newton-Schulz diverged (negative eigenvalues?); using method='eigh' instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return sqrtm(a, method="eigh", return_error=return_error)
    limit = 1e3 * a.shape[-1] * torch.finfo(a.dtype).eps
    if result.steps == max_iter and bool((result.residual > limit).any()):
        warnings.warn(
            f"sqrtm: Newton-Schulz stopped after {max_iter} steps with relative residual "
            f"{float(result.residual.max()):.3g}; a may be singular or not PSD (method='eigh' is exact)",
            RuntimeWarning,
            stacklevel=2,
        )
    return (result.root, result.residual.to(torch.float64)) if return_error else result.root
