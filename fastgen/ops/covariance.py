"""``fastgen.ops.covariance``: batched sample covariance, and the shifted moments behind streaming
feature statistics.

``covariance(x)``: x [N, d] -> [d, d] or x [B, N, d] -> [B, d, d], unbiased (divides by N - 1),
equal to ``torch.cov(x.T)`` per set. ``shifted_moments(x, shift)``: s = sum_i (x_i - c) and
G = sum_i (x_i - c)(x_i - c)^T, the one pass over the data that ``FeatureStats`` makes per batch
(see ``fastgen.ops.reference.covariance`` for the algebra).

Implementations (``backend=``, see ``fastgen.backends``): ``torch`` (the reference), ``cpp``
(centring into one packed buffer, BLAS on the upper-triangle tiles only) and ``triton`` (one
kernel: centring in the load, the Gram product on the upper-triangle tiles, float32 accumulation,
3xTF32 tensor-core products on GPUs that have them, which keep float32 accuracy).
Half-precision inputs are computed in float32; float64 stays float64 (torch and cpp only).

Gradients (any backend): with X_c = X - 1 mean^T, d cov = X_c (G + G^T) / (N - 1) for an output
gradient G (the mean's term vanishes because the rows of X_c sum to 0); for the shifted moments,
dx = 1 g_s^T + (X - c)(G + G^T) and d shift = -sum_i dx_i.
"""

from __future__ import annotations

import torch

from fastgen import backends
from fastgen.ops import _checks
from fastgen.ops._registry import compiled_op
from fastgen.ops.reference import covariance as reference

__all__ = ["covariance", "shifted_moments"]

_covariance_op = compiled_op("covariance")
_moments_op = compiled_op("shifted_moments")


def _fake_covariance(x):
    return x.new_empty((x.shape[0], x.shape[2], x.shape[2]))


def _fake_moments(x, shift):
    return x.new_empty((x.shape[0], x.shape[2])), x.new_empty((x.shape[0], x.shape[2], x.shape[2]))


def _covariance_autograd(qualname: str) -> None:
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        centred = x - x.mean(dim=1, keepdim=True)
        return centred @ (grad + grad.transpose(-1, -2)) / (x.shape[1] - 1)

    torch.library.register_autograd(qualname, backward, setup_context=setup_context)


def _moments_autograd(qualname: str) -> None:
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward(ctx, grad_sums, grad_gram):
        x, shift = ctx.saved_tensors
        grad_x = torch.zeros_like(x)
        if grad_sums is not None:
            grad_x = grad_x + grad_sums.unsqueeze(1)
        if grad_gram is not None:
            grad_x = grad_x + (x - shift.unsqueeze(1)) @ (grad_gram + grad_gram.transpose(-1, -2))
        return grad_x, -grad_x.sum(dim=1)

    torch.library.register_autograd(qualname, backward, setup_context=setup_context)


if _covariance_op is not None:
    torch.library.register_fake("fastgen::covariance")(_fake_covariance)
    torch.library.register_fake("fastgen::shifted_moments")(_fake_moments)
    _covariance_autograd("fastgen::covariance")
    _moments_autograd("fastgen::shifted_moments")

_triton = None
if backends.triton_usable():
    from fastgen.ops.triton import covariance as _triton

    _covariance_autograd("fastgen::covariance_triton")
    _moments_autograd("fastgen::shifted_moments_triton")


def _implementations(op: str) -> dict:
    impls = {"torch": getattr(reference, op)}
    compiled = {"covariance": _covariance_op, "shifted_moments": _moments_op}[op]
    if compiled is not None:
        impls["cpp"] = compiled  # CPU only: there is no CUDA kernel, the GPU path is Triton's
    if _triton is not None:
        impls["triton"] = getattr(_triton, op)
    return impls


def _reasons(dtype: torch.dtype):
    def reasons(name: str) -> list[str]:
        if name == "triton" and dtype == torch.float64:
            return ["triton computes float32 only; float64 runs on torch or cpp"]
        return []

    return reasons


def _check_x(x, min_rows: int) -> None:
    _checks.floating(x, "x")
    if x.dim() not in (2, 3):
        raise ValueError(f"x must have shape [N, d] or [B, N, d], got {tuple(x.shape)}")
    if x.shape[-2] < min_rows:
        raise ValueError(f"x must have at least {min_rows} rows (N = x.shape[-2]), got shape {tuple(x.shape)}")
    if x.shape[-1] < 1:
        raise ValueError(f"x must have at least one feature (d = x.shape[-1]), got shape {tuple(x.shape)}")


def covariance(x: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    """Unbiased sample covariance of the rows of x.

    Args:
        x: [N, d] or [B, N, d] features (N >= 2), any floating dtype; strided inputs are copied.
        backend: "torch", "cpp", "triton" or "auto" (see ``fastgen.backends``).

    Returns:
        [d, d] or [B, d, d] in x's dtype; differentiable in x.

    Equivalent PyTorch::

        centred = x - x.mean(dim=-2, keepdim=True)
        cov = centred.mT @ centred / (x.shape[-2] - 1)
    """
    _check_x(x, min_rows=2)
    acc = reference.compute_dtype(x.dtype)
    xb = (x if x.dim() == 3 else x.unsqueeze(0)).to(acc).contiguous()
    impl = backends.select("covariance", _implementations("covariance"), x.device, backend, _reasons(acc))
    out = impl(xb).to(x.dtype)
    return out if x.dim() == 3 else out[0]


def shifted_moments(
    x: torch.Tensor, shift: torch.Tensor, *, backend: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """s = sum_i (x_i - shift) and G = sum_i (x_i - shift)(x_i - shift)^T, in one pass over x.

    Args:
        x: [N, d] or [B, N, d] features (N >= 0), any floating dtype (computed in float32, float64 in float64).
        shift: [d] or [B, d], the same for every row of a set (e.g. an earlier estimate of the mean).
        backend: as for ``covariance``.

    Returns:
        (s, G): [d] and [d, d] (or [B, d] and [B, d, d]) in the compute dtype.

    Equivalent PyTorch::

        centred = x - shift.unsqueeze(-2)
        s, G = centred.sum(dim=-2), centred.mT @ centred
    """
    _check_x(x, min_rows=0)
    _checks.floating(shift, "shift")
    expected = tuple(x.shape[:-2] + x.shape[-1:])
    if tuple(shift.shape) != expected:
        raise ValueError(f"shift must have shape {expected} for x of shape {tuple(x.shape)}, got {tuple(shift.shape)}")
    _checks.same_device(shift, "shift", x, "x")
    acc = reference.compute_dtype(x.dtype)
    xb = (x if x.dim() == 3 else x.unsqueeze(0)).to(acc).contiguous()
    cb = (shift if shift.dim() == 2 else shift.unsqueeze(0)).to(acc).contiguous()
    impl = backends.select("shifted_moments", _implementations("shifted_moments"), x.device, backend, _reasons(acc))
    sums, gram = impl(xb, cb)
    return (sums, gram) if x.dim() == 3 else (sums[0], gram[0])
