"""``fastgen.ops.corrupt_encode``: masking corruption + encoder GEMM + sigmoid of a denoising
autoencoder, fused (Vincent et al., "Extracting and Composing Robust Features with Denoising
Autoencoders", ICML 2008):

    keep_ij = U(seed, i * n_visible + j) >= corruption          (Philox uniform, philox_uniform)
    h       = sigmoid((x * keep) @ weight + bias)

The mask is drawn inside the kernels from the Philox stream (seed, element offset of x) and
drawn again in backward from the (seed, base) pair the forward returns as two int64 on the device
(rng_state): neither the mask nor the corrupted input x~ is stored; autograd keeps x, weight, the
output h and that pair. With dpre = grad_h * h * (1 - h):

    grad_weight = x~^T dpre,   grad_bias = sum_i dpre_i,   grad_x = (dpre weight^T) * keep
"""

from __future__ import annotations

import torch

from fastgen.ops import _cases, _checks, compiled, seeds
from fastgen.ops._registry import OpDescription, TritonKernels, register
from fastgen.ops.reference.corrupt_encode import corrupt_encode as reference

__all__ = ["corrupt_encode"]


def _fake(x, weight, bias, corruption, seed):
    return x.new_empty((x.shape[0], weight.shape[1])), x.new_empty((2,), dtype=torch.int64)


def _fake_backward(grad_h, h, x, weight, corruption, rng_state, grad_x_needed):
    grad_x = torch.empty_like(x) if grad_x_needed else x.new_empty((0,))
    return grad_x, torch.empty_like(weight), weight.new_empty(weight.shape[1:])


def _setup_context(ctx, inputs, output):
    x, weight, _bias, corruption, _seed = inputs
    h, rng_state = output
    ctx.save_for_backward(x, weight, h, rng_state)
    ctx.corruption = corruption


def _backward(ctx, backward_op, grad_h, _grad_rng_state):
    """The backward op redraws the mask from the forward's rng_state instead of reading a stored
    one, and computes grad_x only when x needs it (a DAE's input is data: that GEMM is a third of
    the work)."""
    x, weight, h, rng_state = ctx.saved_tensors
    grad_x_needed = ctx.needs_input_grad[0]
    grad_x, grad_weight, grad_bias = backward_op(
        grad_h.contiguous(), h, x, weight, ctx.corruption, rng_state, grad_x_needed
    )
    return grad_x if grad_x_needed else None, grad_weight, grad_bias, None, None


def _public(outputs):
    """h: the custom op's rng_state output is for its backward only."""
    return outputs[0]


OP = register(
    OpDescription(
        name="corrupt_encode",
        reference=reference,
        fake=_fake,
        implementations={
            **compiled.implementations(cpp=compiled.FLOATING, cuda=compiled.FLOATING),
            "triton": TritonKernels("corrupt_encode"),
        },
        setup_context=_setup_context,
        backward=_backward,
        backward_fake=_fake_backward,
        double_backward=False,
        result=_public,
        cases=lambda: _contract_cases(),
    )
)


def corrupt_encode(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    *,
    corruption: float,
    seed: int | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """h = sigmoid(mask(x) @ weight + bias), each input zeroed with probability ``corruption``.

    Args:
        x: ``[N, n_visible]``; weight: ``[n_visible, n_hidden]``; bias: ``[n_hidden]``; floating.
            The compiled backends take one dtype for the three (mixed dtypes run on the
            reference; each backend's dtypes: ``OP.capabilities``). Strided inputs are copied.
        corruption: the masking level c, 0 <= c < 1.
        seed: Philox seed of the mask (element (i, j) is dropped when
            philox_uniform(seed, i * n_visible + j) < c). When None, drawn from torch's generator
            of x's device (``fastgen.ops.seeds``): on a GPU on the device, so that a CUDA graph
            captured around the call draws a new mask at every replay.
        backend: "torch", "cpp", "cuda", "triton" or "auto" (see ``fastgen.backends``).

    Returns:
        h ``[N, n_hidden]`` in the dtype of x; differentiable in x, weight and bias.

    Equivalent PyTorch::

        keep = fastgen.ops.philox.uniform(seed, torch.arange(x.numel()).view(x.shape)) >= corruption
        h = torch.sigmoid((x * keep) @ weight + bias)
    """
    check_encoder_arguments(x, weight, bias, corruption)
    seed = seeds.resolve(seed, x.device)
    return OP(x.contiguous(), weight.contiguous(), bias.contiguous(), float(corruption), seed, backend=backend)


def check_encoder_arguments(x, weight, bias, corruption, *, bias_name: str = "bias") -> None:
    """The encoder's arguments, each refused in one line naming it (also tied_autoencoder's)."""
    _checks.floating(x, "x")
    _checks.floating(weight, "weight")
    _checks.floating(bias, bias_name)
    if x.dim() != 2:
        raise ValueError(f"x must have shape [N, n_visible], got {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"weight must have shape [n_visible={x.shape[1]}, n_hidden], got {tuple(weight.shape)}")
    if bias.shape != (weight.shape[1],):
        raise ValueError(f"{bias_name} must have shape [n_hidden={weight.shape[1]}], got {tuple(bias.shape)}")
    _checks.same_device(weight, "weight", x, "x")
    _checks.same_device(bias, bias_name, x, "x")
    if isinstance(corruption, bool) or not isinstance(corruption, (int, float)) or not 0.0 <= corruption < 1.0:
        raise ValueError(f"corruption must be a number with 0 <= corruption < 1, got {corruption!r}")


# --- the contract's cases (fastgen/ops/_cases.py) --------------------------------------------------


def _contract_cases() -> _cases.OpCases:
    def make(shape, generator):
        n, n_visible, n_hidden = shape
        x = torch.rand(n, n_visible, generator=generator, dtype=torch.float64)
        weight = _cases.normal(generator, n_visible, n_hidden) / max(n_visible, 1) ** 0.5
        return [x, weight, _cases.normal(generator, n_hidden)]

    def backward_op_args(inputs):
        x, weight, bias = (t.float() for t in inputs)
        h = torch.sigmoid(x @ weight + bias)
        return (torch.ones_like(h), h, x, weight, 0.3, _cases.rng_state(), True)

    def encode(x=None, weight=None, bias=None, corruption=0.3):
        x = torch.ones(3, 4) if x is None else x
        weight = torch.ones(4, 3) if weight is None else weight
        bias = torch.ones(3) if bias is None else bias
        return corrupt_encode(x, weight, bias, corruption=corruption, seed=0)

    return _cases.OpCases(
        make=make,
        call=lambda inputs, backend: corrupt_encode(*inputs, corruption=0.3, seed=_cases.SEED, backend=backend),
        outputs=("h",),
        inputs=("x", "weight", "bias"),
        # (N, n_visible, n_hidden): ones, primes, not a multiple of the tiles, an empty batch
        shapes=[(1, 1, 1), (1, 13, 7), (17, 31, 5), (37, 70, 20), (0, 6, 4)],
        strided_shape=(11, 17, 13),
        op_args=lambda inputs: (*(t.float() for t in inputs), 0.3, _cases.SEED),
        backward_op_args=backward_op_args,
        differentiable=(0, 1, 2),
        bad=[
            (lambda: encode(corruption=1.0), ValueError, "corruption must be"),
            (lambda: encode(corruption=-0.1), ValueError, "corruption must be"),
            (lambda: encode(corruption=float("nan")), ValueError, "corruption must be"),
            (lambda: encode(x=torch.ones(3, 5)), ValueError, "weight must have shape"),
            (lambda: encode(x=torch.ones(3, 4, 1)), ValueError, "x must have shape"),
            (lambda: encode(weight=torch.ones(4, 2)), ValueError, "bias must have shape"),
            (lambda: encode(x=torch.ones(3, 4, dtype=torch.int64)), TypeError, "x must have a floating dtype"),
            (lambda: encode(weight=torch.ones(4, 3, dtype=torch.int32)), TypeError, "weight must have a floating"),
            (lambda: encode(x=[[1.0] * 4]), TypeError, "x must be a torch.Tensor"),
            (lambda: encode(weight=torch.ones(4, 3, device="meta")), ValueError, "weight is on meta"),
            (lambda: encode(bias=torch.ones(3, device="meta")), ValueError, "bias is on meta"),
        ],
    )
