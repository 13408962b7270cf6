"""``fastgen.ops.corrupt_encode``: masking corruption + encoder GEMM + sigmoid of a denoising
autoencoder, fused (Vincent et al., "Extracting and Composing Robust Features with Denoising
Autoencoders", ICML 2008):

    keep_ij = U(seed, i * n_visible + j) >= corruption          (Philox uniform, tl.rand)
    h       = sigmoid((x * keep) @ weight + bias)

The mask is drawn inside the kernels from the Philox stream (seed, element offset of x) and
drawn again in backward: neither the mask nor the corrupted input x~ is stored; autograd keeps
x, weight and the output h. With dpre = grad_h * h * (1 - h):

    grad_weight = x~^T dpre,   grad_bias = sum_i dpre_i,   grad_x = (dpre weight^T) * keep
"""

from __future__ import annotations

import torch

from fastgen import backends
from fastgen.ops import _checks, seeds
from fastgen.ops._registry import wire_forward_backward
from fastgen.ops.reference.corrupt_encode import corrupt_encode as reference

__all__ = ["corrupt_encode"]


def _fake_forward(x, weight, bias, corruption, seed):
    return x.new_empty((x.shape[0], weight.shape[1]))


def _fake_backward(grad_h, h, x, weight, corruption, seed):
    return torch.empty_like(x), torch.empty_like(weight), weight.new_empty(weight.shape[1:])


def _autograd(forward_qualname: str, backward_op) -> None:
    """Backward for (x, weight, bias, corruption, seed): the backward op redraws the mask."""

    def setup_context(ctx, inputs, output):
        x, weight, _bias, corruption, seed = inputs
        ctx.save_for_backward(x, weight, output)
        ctx.corruption, ctx.seed = corruption, seed

    def backward(ctx, grad_h):
        x, weight, h = ctx.saved_tensors
        grad_x, grad_weight, grad_bias = backward_op(grad_h.contiguous(), h, x, weight, ctx.corruption, ctx.seed)
        return grad_x, grad_weight, grad_bias, None, None

    torch.library.register_autograd(forward_qualname, backward, setup_context=setup_context)


_IMPLEMENTATIONS = wire_forward_backward(
    "corrupt_encode",
    reference=reference,
    fake_forward=_fake_forward,
    fake_backward=_fake_backward,
    autograd=_autograd,
    triton_module="fastgen.ops.triton.corrupt_encode",
)


def _reasons(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    def reasons(name: str) -> list[str]:
        found = []
        if name != "torch" and not x.dtype == weight.dtype == bias.dtype:
            found.append(f"{name} needs x, weight and bias in one dtype (got {x.dtype}, {weight.dtype}, {bias.dtype})")
        if name == "triton" and x.dtype == torch.float64:
            found.append("the Triton kernels compute in float32; float64 runs on torch, cpp or cuda")
        return found

    return reasons


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
        x: ``[N, n_visible]``; weight: ``[n_visible, n_hidden]``; bias: ``[n_hidden]``; float16,
            bfloat16, float32 or float64 (computed in float32, float64 in float64). The compiled
            backends take one dtype for the three (mixed dtypes run on the reference). Strided
            inputs are copied.
        corruption: the masking level c, 0 <= c < 1.
        seed: Philox seed of the mask (element (i, j) is dropped when
            tl.rand(seed, i * n_visible + j) < c); drawn from torch's generator when None.
        backend: "torch", "cpp", "cuda", "triton" or "auto" (see ``fastgen.backends``).

    Returns:
        h ``[N, n_hidden]`` in the dtype of x; differentiable in x, weight and bias.

    Equivalent PyTorch::

        keep = fastgen.ops.philox.uniform(seed, torch.arange(x.numel()).view(x.shape)) >= corruption
        h = torch.sigmoid((x * keep) @ weight + bias)
    """
    _checks.floating(x, "x")
    _checks.floating(weight, "weight")
    _checks.floating(bias, "bias")
    if x.dim() != 2:
        raise ValueError(f"x must have shape [N, n_visible], got {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"weight must have shape [n_visible={x.shape[1]}, n_hidden], got {tuple(weight.shape)}")
    if bias.shape != (weight.shape[1],):
        raise ValueError(f"bias must have shape [n_hidden={weight.shape[1]}], got {tuple(bias.shape)}")
    _checks.same_device(weight, "weight", x, "x")
    _checks.same_device(bias, "bias", x, "x")
    if isinstance(corruption, bool) or not isinstance(corruption, (int, float)) or not 0.0 <= corruption < 1.0:
        raise ValueError(f"corruption must be a number with 0 <= corruption < 1, got {corruption!r}")
    seed = seeds.resolve(seed)
    impl = backends.select("corrupt_encode", _IMPLEMENTATIONS, x.device, backend, _reasons(x, weight, bias))
    return impl(x.contiguous(), weight.contiguous(), bias.contiguous(), float(corruption), seed)
