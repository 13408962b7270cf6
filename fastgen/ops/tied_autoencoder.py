"""``fastgen.ops.tied_autoencoder``: the reconstruction logits of a tied-weight denoising
autoencoder with masking corruption, encoder and decoder in one op (Vincent et al., "Extracting
and Composing Robust Features with Denoising Autoencoders", ICML 2008):

    h      = sigmoid((x * keep) @ weight + hidden_bias)        (``corrupt_encode``, its mask)
    logits = h @ weight^T + visible_bias

Why one op: the tied weight gets two gradients, x~^T dpre from the encoder and g^T h from the
decoder (g = grad_logits, dpre = (g weight) * h (1 - h)). Autograd computes them as two GEMMs
and sums them; here they are one GEMM over twice the rows, [x~; g]^T [dpre; h]. At a DAE's small
batches both GEMMs are outer products bound by writing [n_visible, n_hidden] results, and the sum
reads two of them and writes a third: one GEMM writes W-sized memory once (bench/RESULTS.md).

The mask is corrupt_encode's, drawn from the same Philox stream (seed, element offset of x); the
backward draws it again from the (seed, base) pair the forward returns on the device
(rng_state), so a CUDA graph captured around a call draws a new mask at every replay. Autograd
(in C++ for fastgen._C, csrc/tied_autoencoder/tied_autoencoder_autograd.cpp; below for Triton)
keeps x, weight, h and that pair, and computes grad_x only when x needs it (a DAE's input is data).
"""

from __future__ import annotations

import torch

from fastgen.ops import _cases, _checks, compiled, seeds
from fastgen.ops._registry import OpDescription, TritonKernels, register
from fastgen.ops.corrupt_encode import check_encoder_arguments
from fastgen.ops.reference.tied_autoencoder import tied_autoencoder as reference

__all__ = ["tied_autoencoder"]


def _fake(x, weight, hidden_bias, visible_bias, corruption, seed):
    return x.new_empty(x.shape), x.new_empty((x.shape[0], weight.shape[1])), x.new_empty((2,), dtype=torch.int64)


def _fake_backward(grad_logits, h, x, weight, corruption, rng_state, grad_x_needed):
    grad_x = torch.empty_like(x) if grad_x_needed else x.new_empty((0,))
    return grad_x, torch.empty_like(weight), weight.new_empty(weight.shape[1:]), weight.new_empty(weight.shape[:1])


def _setup_context(ctx, inputs, output):
    x, weight, _hidden_bias, _visible_bias, corruption, _seed = inputs
    _logits, h, rng_state = output
    ctx.save_for_backward(x, weight, h, rng_state)
    ctx.corruption = corruption


def _backward(ctx, backward_op, grad_logits, _grad_h, _grad_rng_state):
    """The Triton op's formula (fastgen._C's is the same, in C++): the backward op draws the mask
    again from rng_state, and computes grad_x only when x needs it."""
    x, weight, h, rng_state = ctx.saved_tensors
    grad_x_needed = ctx.needs_input_grad[0]
    grad_x, grad_weight, grad_hidden_bias, grad_visible_bias = backward_op(
        grad_logits.contiguous(), h, x, weight, ctx.corruption, rng_state, grad_x_needed
    )
    return grad_x if grad_x_needed else None, grad_weight, grad_hidden_bias, grad_visible_bias, None, None


def _public(outputs):
    """logits: h and rng_state are for the backward only."""
    return outputs[0]


OP = register(
    OpDescription(
        name="tied_autoencoder",
        reference=reference,
        fake=_fake,
        # One formula over ATen for both of fastgen._C's devices (csrc/tied_autoencoder/
        # tied_autoencoder.h); the Triton op is the same formula with corrupt_encode's Triton encoder.
        implementations={
            **compiled.implementations(cpp=compiled.FLOATING, cuda=compiled.FLOATING),
            "triton": TritonKernels("tied_autoencoder"),
        },
        # fastgen._C's autograd is in C++ (csrc/tied_autoencoder/tied_autoencoder_autograd.cpp);
        # this formula is the Triton op's.
        setup_context=_setup_context,
        backward=_backward,
        backward_fake=_fake_backward,
        double_backward=False,
        result=_public,
        cases=lambda: _contract_cases(),
    )
)


def tied_autoencoder(
    x: torch.Tensor,
    weight: torch.Tensor,
    hidden_bias: torch.Tensor,
    visible_bias: torch.Tensor,
    *,
    corruption: float,
    seed: int | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """logits = sigmoid(mask(x) @ weight + hidden_bias) @ weight^T + visible_bias, each input
    zeroed with probability ``corruption`` by ``corrupt_encode``'s mask.

    Args:
        x: ``[N, n_visible]``; weight: ``[n_visible, n_hidden]``; hidden_bias: ``[n_hidden]``;
            visible_bias: ``[n_visible]``; floating. The compiled backends take one dtype for the
            four (mixed dtypes run on the reference). Strided inputs are copied.
        corruption: the masking level c, 0 <= c < 1 (0 for inputs corrupted beforehand).
        seed: Philox seed of the mask, as in ``corrupt_encode`` (the same mask for the same seed).
            When None, drawn from torch's generator of x's device.
        backend: "torch", "cpp", "cuda", "triton" or "auto" (see ``fastgen.backends``).

    Returns:
        logits ``[N, n_visible]`` in the dtype of x; differentiable in all four tensors.

    Equivalent PyTorch::

        h = fastgen.ops.corrupt_encode(x, weight, hidden_bias, corruption=corruption, seed=seed)
        logits = h @ weight.t() + visible_bias
    """
    check_encoder_arguments(x, weight, hidden_bias, corruption, bias_name="hidden_bias")
    _checks.floating(visible_bias, "visible_bias")
    if visible_bias.shape != (x.shape[1],):
        raise ValueError(f"visible_bias must have shape [n_visible={x.shape[1]}], got {tuple(visible_bias.shape)}")
    _checks.same_device(visible_bias, "visible_bias", x, "x")
    seed = seeds.resolve(seed, x.device)
    tensors = (t.contiguous() for t in (x, weight, hidden_bias, visible_bias))
    return OP(*tensors, float(corruption), seed, backend=backend)


# --- the contract's cases (fastgen/ops/_cases.py) --------------------------------------------------


def _contract_cases() -> _cases.OpCases:
    def make(shape, generator):
        n, n_visible, n_hidden = shape
        x = torch.rand(n, n_visible, generator=generator, dtype=torch.float64)
        weight = _cases.normal(generator, n_visible, n_hidden) / max(n_visible, 1) ** 0.5
        return [x, weight, _cases.normal(generator, n_hidden), _cases.normal(generator, n_visible)]

    def backward_op_args(inputs):
        x, weight, hidden_bias, _ = (t.float() for t in inputs)
        h = torch.sigmoid(x @ weight + hidden_bias)
        return (torch.ones_like(x), h, x, weight, 0.3, _cases.rng_state(), True)

    def autoencode(x=None, weight=None, hidden_bias=None, visible_bias=None, corruption=0.3):
        x = torch.ones(3, 4) if x is None else x
        weight = torch.ones(4, 3) if weight is None else weight
        hidden_bias = torch.ones(3) if hidden_bias is None else hidden_bias
        visible_bias = torch.ones(4) if visible_bias is None else visible_bias
        return tied_autoencoder(x, weight, hidden_bias, visible_bias, corruption=corruption, seed=0)

    return _cases.OpCases(
        make=make,
        call=lambda inputs, backend: tied_autoencoder(*inputs, corruption=0.3, seed=_cases.SEED, backend=backend),
        outputs=("logits",),
        inputs=("x", "weight", "hidden_bias", "visible_bias"),
        # (N, n_visible, n_hidden): ones, primes, not a multiple of corrupt_encode's tiles, empty
        shapes=[(1, 1, 1), (1, 13, 7), (17, 31, 5), (37, 70, 20), (0, 6, 4)],
        strided_shape=(11, 17, 13),
        op_args=lambda inputs: (*(t.float() for t in inputs), 0.3, _cases.SEED),
        backward_op_args=backward_op_args,
        differentiable=(0, 1, 2, 3),
        bad=[
            (lambda: autoencode(corruption=1.0), ValueError, "corruption must be"),
            (lambda: autoencode(x=torch.ones(3, 5)), ValueError, "weight must have shape"),
            (lambda: autoencode(hidden_bias=torch.ones(4)), ValueError, "hidden_bias must have shape"),
            (lambda: autoencode(visible_bias=torch.ones(3)), ValueError, "visible_bias must have shape"),
            (lambda: autoencode(visible_bias=torch.ones(4, dtype=torch.int64)), TypeError, "visible_bias must have a"),
            (lambda: autoencode(x=[[1.0] * 4]), TypeError, "x must be a torch.Tensor"),
            (lambda: autoencode(visible_bias=torch.ones(4, device="meta")), ValueError, "visible_bias is on meta"),
        ],
    )
