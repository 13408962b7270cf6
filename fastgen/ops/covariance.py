"""``fastgen.ops.covariance``: batched sample covariance, and the shifted moments behind streaming
feature statistics.

``covariance(x)``: x [N, d] -> [d, d] or x [B, N, d] -> [B, d, d], unbiased (divides by N - 1),
equal to ``torch.cov(x.T)`` per set. ``shifted_moments(x, shift)``: s = sum_i (x_i - c) and
G = sum_i (x_i - c)(x_i - c)^T, the one pass over the data that ``FeatureStats`` makes per batch
(see ``fastgen.ops.reference.covariance`` for the algebra).

Implementations (``backend=``, see ``fastgen.backends``): ``torch`` (the reference), ``cpp``
(csrc/covariance) and ``triton`` (fastgen/ops/triton/covariance.py); what each takes is stated
next to its kernels (``COVARIANCE.capabilities``). The public functions widen half precision to
float32 before dispatch.

Gradients (any backend): with X_c = X - 1 mean^T, d cov = X_c (G + G^T) / (N - 1) for an output
gradient G (the mean's term vanishes because the rows of X_c sum to 0); for the shifted moments,
dx = 1 g_s^T + (X - c)(G + G^T) and d shift = -sum_i dx_i.
"""

from __future__ import annotations

import torch

from fastgen.ops import _cases, _checks, compiled
from fastgen.ops._registry import OpDescription, TritonKernels, register
from fastgen.ops.reference import covariance as reference

__all__ = ["covariance", "shifted_moments"]


def _fake_covariance(x):
    return x.new_empty((x.shape[0], x.shape[2], x.shape[2]))


def _fake_moments(x, shift):
    return x.new_empty((x.shape[0], x.shape[2])), x.new_empty((x.shape[0], x.shape[2], x.shape[2]))


def _save_inputs(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _covariance_backward(ctx, backward_op, grad):
    """A differentiable PyTorch expression of x: second derivatives are the reference's."""
    (x,) = ctx.saved_tensors
    centred = x - x.mean(dim=1, keepdim=True)
    return centred @ (grad + grad.transpose(-1, -2)) / (x.shape[1] - 1)


def _moments_backward(ctx, backward_op, grad_sums, grad_gram):
    x, shift = ctx.saved_tensors
    grad_x = torch.zeros_like(x)
    if grad_sums is not None:
        grad_x = grad_x + grad_sums.unsqueeze(1)
    if grad_gram is not None:
        grad_x = grad_x + (x - shift.unsqueeze(1)) @ (grad_gram + grad_gram.transpose(-1, -2))
    return grad_x, -grad_x.sum(dim=1)


# cpp takes float32 and float64 (the public functions widen half precision), Triton float32 (its
# CAPABILITIES). No CUDA C++ kernels: on a GPU the statistics run on Triton.
_IMPLEMENTATIONS = {**compiled.implementations(cpp=compiled.FLOAT32_64), "triton": TritonKernels("covariance")}

COVARIANCE = register(
    OpDescription(
        name="covariance",
        reference=reference.covariance,
        fake=_fake_covariance,
        implementations=_IMPLEMENTATIONS,
        setup_context=_save_inputs,
        backward=_covariance_backward,
        double_backward=True,
        cases=lambda: _covariance_cases(),
    )
)
SHIFTED_MOMENTS = register(
    OpDescription(
        name="shifted_moments",
        reference=reference.shifted_moments,
        fake=_fake_moments,
        implementations=_IMPLEMENTATIONS,
        setup_context=_save_inputs,
        backward=_moments_backward,
        double_backward=True,
        cases=lambda: _moments_cases(),
    )
)


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
    out = COVARIANCE(xb, backend=backend).to(x.dtype)
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
    sums, gram = SHIFTED_MOMENTS(xb, cb, backend=backend)
    return (sums, gram) if x.dim() == 3 else (sums[0], gram[0])


# --- the contract's cases (fastgen/ops/_cases.py) --------------------------------------------------


def _batched(inputs) -> tuple:
    """x as the custom ops take it, [B, N, d] float32."""
    return (inputs[0].float().reshape(-1, *inputs[0].shape[-2:]),)


def _covariance_cases() -> _cases.OpCases:
    return _cases.OpCases(
        make=lambda shape, generator: [_cases.normal(generator, *shape)],
        call=lambda inputs, backend: covariance(*inputs, backend=backend),
        outputs=("cov",),
        inputs=("x",),
        # (B, N, d): the fewest rows, a prime d, two tiles of the Triton kernel (d > 32), unbatched
        shapes=[(1, 2, 1), (1, 5, 3), (2, 37, 33), (23, 11)],
        strided_shape=(13, 9),
        op_args=_batched,
        differentiable=(0,),
        op_dtype=reference.compute_dtype,
        bad=[
            (lambda: covariance([[1.0, 2.0]]), TypeError, "x must be a torch.Tensor"),
            (lambda: covariance(torch.zeros(3, 2, dtype=torch.int64)), TypeError, "x must have a floating"),
            (lambda: covariance(torch.zeros(3)), ValueError, r"x must have shape \[N, d\] or \[B, N, d\]"),
            (lambda: covariance(torch.zeros(1, 4)), ValueError, "x must have at least 2 rows"),
            (lambda: covariance(torch.zeros(3, 0)), ValueError, "x must have at least one feature"),
        ],
    )


def _moments_cases() -> _cases.OpCases:
    def make(shape, generator):
        return [_cases.normal(generator, *shape), _cases.normal(generator, *shape[:-2], shape[-1])]

    return _cases.OpCases(
        make=make,
        call=lambda inputs, backend: shifted_moments(*inputs, backend=backend),
        outputs=("sums", "gram"),
        inputs=("x", "shift"),
        # (B, N, d), with no rows at all (zeros out) and unbatched; shapes[1] is small for gradgradcheck
        shapes=[(1, 1, 1), (1, 6, 4), (2, 45, 33), (1, 0, 5), (19, 7)],
        strided_shape=(13, 9),
        op_args=lambda inputs: (*_batched(inputs), inputs[1].float().reshape(-1, inputs[1].shape[-1])),
        differentiable=(0, 1),
        op_dtype=reference.compute_dtype,
        bad=[
            (lambda: shifted_moments(torch.zeros(5, 4), torch.zeros(3)), ValueError, "shift must have shape"),
            (lambda: shifted_moments(torch.zeros(5, 4), [0.0] * 4), TypeError, "shift must be a torch.Tensor"),
            (lambda: shifted_moments(torch.zeros(5, 4), torch.zeros(4, device="meta")), ValueError, "shift is on meta"),
        ],
    )
