"""Reference sample covariance and the shifted moments that streaming statistics accumulate.

For rows x_1..x_N of X [N, d] and any shift c [d] (Chan, Golub & LeVeque, "Algorithms for computing
the sample variance", The American Statistician 37(3), 1983):

    s = sum_i (x_i - c)                    [d]
    G = sum_i (x_i - c)(x_i - c)^T         [d, d]
    mean = c + s / N
    cov  = (G - s s^T / N) / (N - 1)       (unbiased, like np.cov)

The identity holds for every c; choosing c close to the mean keeps s small, so that G - s s^T / N
does not cancel catastrophically when the features have a large mean.
"""

from __future__ import annotations

import torch


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs are computed in float32; float32 and float64 keep their precision."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def shifted_moments(x: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """s = sum_i (x_i - c) [B, d] and G = sum_i (x_i - c)(x_i - c)^T [B, d, d] for x [B, N, d], c [B, d].

    Computed in ``compute_dtype(x.dtype)``; the outputs have that dtype.
    """
    acc = compute_dtype(x.dtype)
    centered = x.to(acc) - shift.to(acc).unsqueeze(-2)
    return centered.sum(dim=-2), centered.transpose(-1, -2) @ centered


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Unbiased covariance [B, d, d] of the N rows of each x[b] (x [B, N, d], N >= 2), in x's dtype.

    Equivalent to ``torch.stack([torch.cov(xb.T) for xb in x])``.
    """
    acc = compute_dtype(x.dtype)
    n = x.shape[-2]
    xa = x.to(acc)
    centered = xa - xa.mean(dim=-2, keepdim=True)
    return ((centered.transpose(-1, -2) @ centered) / (n - 1)).to(x.dtype)
