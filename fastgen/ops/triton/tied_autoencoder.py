"""Triton implementation of the tied autoencoder: the formula of
csrc/tied_autoencoder/tied_autoencoder.h with Triton's pieces. The encoder is corrupt_encode's fused
Triton kernel (``corrupt_encode.encode``); the backward's mask, applied to x and to grad_x, is the
one kernel of this module; the GEMMs, the tied weight's two gradients as one GEMM over 2N rows
(``[x~; g]^T [dpre; h]``, fastgen/ops/tied_autoencoder.py), are torch's (cuBLAS, float32 operands).
They follow ``torch.backends.cuda.matmul.allow_tf32`` (off by default), where the CUDA C++ path
forces IEEE float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op

from fastgen.ops.triton import corrupt_encode, philox
from fastgen.ops.triton._launch import AotCases, Launch, meta

# corrupt_encode's: its kernel is the encoder, float32 compute, no float64.
CAPABILITIES = corrupt_encode.CAPABILITIES
BLOCK = 1024


@triton.jit
def _mask_kernel(in_ptr, out_ptr, state_ptr, count, corruption, BLOCK: tl.constexpr):
    """out = in * keep in float32, keep drawn again from the forward's (seed, base) pair."""
    key, base = philox.recorded_key(state_ptr)
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < count
    value = tl.load(in_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    keep = philox.uniform(key, base + offsets) >= tl.cast(corruption, tl.float32)
    tl.store(out_ptr + offsets, tl.where(keep, value, 0.0), mask=inside)


def _mask_launch(values, out, corruption: float, state) -> Launch:
    count = values.numel()
    return Launch(_mask_kernel, (triton.cdiv(count, BLOCK),), (values, out, state, count, float(corruption)),
                  dict(BLOCK=BLOCK))  # fmt: skip


def _masked(values: torch.Tensor, out: torch.Tensor, corruption: float, state: torch.Tensor) -> torch.Tensor:
    if values.numel():
        _mask_launch(values, out, corruption, state).run()
    return out


@triton_op("fastgen::tied_autoencoder_triton", mutates_args=())
def tied_autoencoder_triton(
    x: torch.Tensor,
    weight: torch.Tensor,
    hidden_bias: torch.Tensor,
    visible_bias: torch.Tensor,
    corruption: float,
    seed: int | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h, rng_state = corrupt_encode.encode(x, weight, hidden_bias, corruption, seed)
    logits = torch.addmm(visible_bias.float(), h.float(), weight.float().t()).to(x.dtype)
    return logits, h, rng_state


@triton_op("fastgen::_tied_autoencoder_backward_triton", mutates_args=())
def tied_autoencoder_backward_triton(
    grad_logits: torch.Tensor,
    h: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    corruption: float,
    rng_state: torch.Tensor,
    grad_x_needed: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n, n_visible = x.shape
    w, g, h32 = weight.float(), grad_logits.float(), h.float()
    left = x.new_empty((2 * n, n_visible), dtype=torch.float32)  # [x~; g]
    right = x.new_empty((2 * n, weight.shape[1]), dtype=torch.float32)  # [dpre; h]
    _masked(x, left[:n], corruption, rng_state)
    left[n:].copy_(g)
    dpre = right[:n]
    torch.mm(g, w, out=dpre)
    dpre.mul_(h32 * (1 - h32))
    right[n:].copy_(h32)
    grad_w = (left.t() @ right).to(weight.dtype)
    grad_x = x.new_empty((0,))
    if grad_x_needed:
        grad_x_tilde = dpre @ w.t()
        grad_x = _masked(grad_x_tilde, torch.empty_like(grad_x_tilde), corruption, rng_state).to(x.dtype)
    return grad_x, grad_w, dpre.sum(0).to(weight.dtype), g.sum(0).to(weight.dtype)


# Ahead-of-time compilation (scripts/triton_aot.py): the mask kernel on x in each dtype and on a
# float32 gradient; its one block size covers every shape (the encoder's are corrupt_encode's).
AOT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
AOT_SHAPES = ((20, 784), (1, 5))


def aot_cases(shape: tuple[int, int], dtype: torch.dtype) -> AotCases:
    state = meta(2, dtype=torch.int64)
    out = meta(*shape)
    yield f"{shape}", _mask_launch(meta(*shape, dtype=dtype), out, 0.3, state)
