"""Reference principal square root of symmetric positive semi-definite matrices, via eigh in float64.

A = V diag(lambda) V^T  =>  A^(1/2) = V diag(sqrt(lambda)) V^T (Higham, "Functions of Matrices", 2008,
ch. 6). Eigenvalues at or below the eigensolver's rounding level, d * eps * max|lambda|, are taken as
0: they are indistinguishable from 0, and their square roots (up to sqrt(d * eps) * |A|^(1/2) each)
would otherwise add noise that no longer vanishes with the rounding.
"""

from __future__ import annotations

import torch


def clamp_rounding(eigenvalues: torch.Tensor) -> torch.Tensor:
    """Eigenvalues [..., d] with those at or below d * eps * max|lambda| set to 0 (negatives included)."""
    d = eigenvalues.shape[-1]
    eps = torch.finfo(eigenvalues.dtype).eps
    level = d * eps * eigenvalues.abs().amax(dim=-1, keepdim=True)
    return torch.where(eigenvalues > level, eigenvalues, torch.zeros_like(eigenvalues))


def sqrt_factor(a: torch.Tensor) -> torch.Tensor:
    """F = V diag(sqrt(lambda)) in float64, so that F F^T = A (rounding-level eigenvalues dropped)."""
    eigenvalues, vectors = torch.linalg.eigh(a.to(torch.float64))
    return vectors * clamp_rounding(eigenvalues).sqrt().unsqueeze(-2)


def sqrtm(a: torch.Tensor) -> torch.Tensor:
    """Principal square root of symmetric PSD a [..., d, d], computed in float64, returned in a's dtype."""
    eigenvalues, vectors = torch.linalg.eigh(a.to(torch.float64))
    root = (vectors * clamp_rounding(eigenvalues).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)
    return root.to(a.dtype)
