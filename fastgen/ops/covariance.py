"""Sample covariance, batched, and the shifted moments behind streaming feature statistics.

``covariance(x)``: x [N, d] -> [d, d] or x [B, N, d] -> [B, d, d], unbiased (divides by N - 1),
equal to ``torch.cov(x.T)`` per set. ``shifted_moments(x, shift)``: s = sum_i (x_i - c) and
G = sum_i (x_i - c)(x_i - c)^T, the one pass over the data that ``FeatureStats`` makes per batch
(see ``fastgen.ops.reference.covariance`` for the algebra).

Implementations (``backend=``, see ``fastgen.backends``): ``torch`` (the reference), ``cpp``
(centring fused into a packed panel, BLAS on the upper-triangle tiles only) and ``triton``
(one kernel: centring in the load, the Gram product on the upper-triangle tiles, float32
accumulation; on GPUs with tensor cores the product uses 3xTF32, which keeps float32 accuracy).
Half-precision inputs are computed in float32; float64 stays float64 (torch and cpp only).
"""

from __future__ import annotations

import torch

from fastgen import _extension, backends
from fastgen.ops.reference import covariance as reference


def _check_x(x: torch.Tensor, min_rows: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must have a floating dtype, got {x.dtype}")
    if x.dim() not in (2, 3):
        raise ValueError(f"x must be [N, d] or [B, N, d], got shape {tuple(x.shape)}")
    if x.shape[-2] < min_rows:
        raise ValueError(f"x must have at least {min_rows} rows (N = x.shape[-2]), got shape {tuple(x.shape)}")
    if x.shape[-1] < 1:
        raise ValueError(f"x must have at least one feature (d = x.shape[-1]), got shape {tuple(x.shape)}")


def _triton_reasons(x: torch.Tensor) -> list[str]:
    return [] if x.dtype == torch.float32 else [f"triton computes float32 only, got {x.dtype}"]


def _implementations(op: str) -> dict:
    impls = {"torch": getattr(reference, op)}
    if _extension.C is not None:
        impls["cpp"] = getattr(torch.ops.fastgen, op)
    if backends.triton_importable():
        from fastgen.ops.triton import covariance as triton_covariance

        impls["triton"] = getattr(triton_covariance, op)
    return impls


def covariance(x: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    """Unbiased sample covariance of the rows of x.

    Args:
        x: [N, d] or [B, N, d] features (N >= 2), any floating dtype.
        backend: ``torch``, ``cpp``, ``triton`` or ``auto`` (None: see ``fastgen.backends``).

    Returns:
        [d, d] or [B, d, d] in x's dtype: cov = (X - mean)^T (X - mean) / (N - 1).
    """
    _check_x(x, min_rows=2)
    acc = reference.compute_dtype(x.dtype)
    xb = (x if x.dim() == 3 else x.unsqueeze(0)).to(acc)
    impl = backends.select("covariance", _implementations("covariance"), x.device, backend, _reasons(xb))
    out = impl(xb).to(x.dtype)
    return out if x.dim() == 3 else out[0]


def shifted_moments(
    x: torch.Tensor, shift: torch.Tensor, *, backend: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """s = sum_i (x_i - shift) and G = sum_i (x_i - shift)(x_i - shift)^T.

    Args:
        x: [N, d] or [B, N, d] features, any floating dtype (computed in float32, or float64 for float64).
        shift: [d] or [B, d], the same for every row of a set (e.g. a previous estimate of the mean).
        backend: as for ``covariance``.

    Returns:
        (s, G): [d] and [d, d] (or [B, d] and [B, d, d]) in the compute dtype.
    """
    _check_x(x, min_rows=0)
    if not isinstance(shift, torch.Tensor) or shift.shape != x.shape[:-2] + x.shape[-1:]:
        got = tuple(shift.shape) if isinstance(shift, torch.Tensor) else type(shift).__name__
        raise ValueError(
            f"shift must have shape {tuple(x.shape[:-2] + x.shape[-1:])} for x {tuple(x.shape)}, got {got}"
        )
    if shift.device != x.device:
        raise ValueError(f"shift must be on x's device {x.device}, got {shift.device}")
    acc = reference.compute_dtype(x.dtype)
    xb = (x if x.dim() == 3 else x.unsqueeze(0)).to(acc)
    cb = (shift if shift.dim() == 2 else shift.unsqueeze(0)).to(acc)
    impl = backends.select("shifted_moments", _implementations("shifted_moments"), x.device, backend, _reasons(xb))
    sums, gram = impl(xb, cb)
    return (sums, gram) if x.dim() == 3 else (sums[0], gram[0])


def _reasons(x: torch.Tensor):
    return lambda name: _triton_reasons(x) if name == "triton" else []


if _extension.C is not None:

    @torch.library.register_fake("fastgen::covariance")
    def _covariance_fake(x: torch.Tensor) -> torch.Tensor:
        return x.new_empty((x.shape[0], x.shape[2], x.shape[2]))

    @torch.library.register_fake("fastgen::shifted_moments")
    def _shifted_moments_fake(x: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.new_empty((x.shape[0], x.shape[2])), x.new_empty((x.shape[0], x.shape[2], x.shape[2]))
