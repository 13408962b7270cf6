"""Triton kernels of the denoising autoencoder's encoder with masking noise.

Forward: one GEMM kernel, h = sigmoid(mask(x) @ W + b), whose load prologue masks each x tile
with philox.uniform(seed, element offset) >= corruption (the Philox stream of the C++ kernels and the
reference) and whose epilogue adds the bias and applies the sigmoid.

Backward: two GEMM kernels, both forming dpre = grad_h * h * (1 - h) on the fly from grad_h and
the saved h (dpre is never stored), both drawing the mask again:
  - grad_x = (dpre @ W^T) * keep, the mask applied in the epilogue;
  - grad_W = x~^T @ dpre with x~ masked in the prologue, and grad_b = sum_rows dpre from the
    same tiles (by the programs of the first block of n_visible).
Every dot runs on float32 operands with input_precision="ieee" (no TF32), as the reference and
the C++ paths compute: float16/bfloat16 tiles are widened on load (exactly), dpre is float32.
A native half-precision dot would be faster on tensor cores; it is left for when a GPU can
measure it (the interpreter's bfloat16 dot is not exact, so it could not be tested here).
The forward draws from (seed, base) = (seed, 0) for an explicit seed, or from a pair drawn on the
device (a CUDA graph then draws a new mask at every replay), and records the pair in a device
tensor from which both backward kernels draw the mask again (philox.forward_key / recorded_key).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op

from fastgen.ops import philox as stream
from fastgen.ops._registry import Capabilities
from fastgen.ops.triton import philox
from fastgen.ops.triton._launch import AotCases, Launch, meta

# Tiles are widened to float32 on load and every dot is a float32 IEEE dot; no float64.
CAPABILITIES = Capabilities(
    devices=("cuda",),
    compute={torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.float32: torch.float32},
)


@triton.jit
def _masked_tile(x_ptr, rows, cols, n, n_visible, corruption, seed, base):
    """x~[rows, cols] in x's dtype (rows and cols are 2-D index blocks that broadcast)."""
    offsets = rows.to(tl.int64) * n_visible + cols
    inside = (rows < n) & (cols < n_visible)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0)
    keep = philox.uniform(seed, base + offsets) >= corruption
    return tl.where(keep, x, tl.zeros_like(x))


@triton.jit
def _pre_gradient(grad_h_ptr, h_ptr, rows, cols, n, n_hidden):
    """dpre[rows, cols] = grad_h * h * (1 - h) in float32."""
    offsets = rows.to(tl.int64) * n_hidden + cols
    inside = (rows < n) & (cols < n_hidden)
    grad_h = tl.load(grad_h_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    h = tl.load(h_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    return grad_h * h * (1.0 - h)


@triton.jit
def _forward_kernel(x_ptr, w_ptr, b_ptr, h_ptr, state_ptr, n, n_visible, n_hidden, corruption, seed,
                    SEED_IN_STATE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_K: tl.constexpr):  # fmt: skip
    key, base = philox.forward_key(state_ptr, seed, SEED_IN_STATE)
    corruption = tl.cast(corruption, tl.float32)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, n_visible, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        x = _masked_tile(x_ptr, rows[:, None], ks[None, :], n, n_visible, corruption, key, base)
        w_inside = (ks[:, None] < n_visible) & (cols[None, :] < n_hidden)
        w = tl.load(w_ptr + ks[:, None].to(tl.int64) * n_hidden + cols[None, :], mask=w_inside, other=0.0)
        acc = tl.dot(x.to(tl.float32), w.to(tl.float32), acc, input_precision="ieee")
    bias = tl.load(b_ptr + cols, mask=cols < n_hidden, other=0.0).to(tl.float32)
    h = tl.sigmoid(acc + bias[None, :])
    out = rows[:, None].to(tl.int64) * n_hidden + cols[None, :]
    tl.store(h_ptr + out, h.to(h_ptr.dtype.element_ty), mask=(rows[:, None] < n) & (cols[None, :] < n_hidden))


@triton.jit
def _grad_x_kernel(grad_h_ptr, h_ptr, w_ptr, grad_x_ptr, state_ptr, n, n_visible, n_hidden, corruption,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):  # fmt: skip
    key, base = philox.recorded_key(state_ptr)
    corruption = tl.cast(corruption, tl.float32)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    ks = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
    for j0 in range(0, n_hidden, BLOCK_N):
        js = j0 + tl.arange(0, BLOCK_N)
        dpre = _pre_gradient(grad_h_ptr, h_ptr, rows[:, None], js[None, :], n, n_hidden)
        w_inside = (js[:, None] < n_hidden) & (ks[None, :] < n_visible)
        w_t = tl.load(w_ptr + ks[None, :].to(tl.int64) * n_hidden + js[:, None], mask=w_inside, other=0.0)
        acc = tl.dot(dpre, w_t.to(tl.float32), acc, input_precision="ieee")
    offsets = rows[:, None].to(tl.int64) * n_visible + ks[None, :]
    keep = philox.uniform(key, base + offsets) >= corruption
    grad_x = tl.where(keep, acc, 0.0)
    inside = (rows[:, None] < n) & (ks[None, :] < n_visible)
    tl.store(grad_x_ptr + offsets, grad_x.to(grad_x_ptr.dtype.element_ty), mask=inside)


@triton.jit
def _grad_w_kernel(grad_h_ptr, h_ptr, x_ptr, grad_w_ptr, grad_b_ptr, state_ptr, n, n_visible, n_hidden,
                   corruption, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):  # fmt: skip
    key, base = philox.recorded_key(state_ptr)
    corruption = tl.cast(corruption, tl.float32)
    ks = tl.program_id(0) * BLOCK_K + tl.arange(0, BLOCK_K)
    js = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_K, BLOCK_N), dtype=tl.float32)
    bias_sum = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for m0 in range(0, n, BLOCK_M):
        rows = m0 + tl.arange(0, BLOCK_M)
        x_t = _masked_tile(x_ptr, rows[None, :], ks[:, None], n, n_visible, corruption, key, base).to(tl.float32)
        dpre = _pre_gradient(grad_h_ptr, h_ptr, rows[:, None], js[None, :], n, n_hidden)
        acc = tl.dot(x_t, dpre, acc, input_precision="ieee")
        bias_sum += tl.sum(dpre, axis=0)
    out = ks[:, None].to(tl.int64) * n_hidden + js[None, :]
    inside = (ks[:, None] < n_visible) & (js[None, :] < n_hidden)
    tl.store(grad_w_ptr + out, acc.to(grad_w_ptr.dtype.element_ty), mask=inside)
    first_k_block = tl.program_id(0) == 0
    tl.store(grad_b_ptr + js, bias_sum.to(grad_b_ptr.dtype.element_ty), mask=(js < n_hidden) & first_k_block)


def _block(size: int) -> int:
    """A tile side: at least 16 (tl.dot's minimum), at most 32. The IEEE float32 dots run on FMA
    units, with every tile and the mask's Philox draws in registers: 64-wide tiles needed 255
    registers and spilled up to 1.7 KB per thread on sm_80 (and on sm_90 in bfloat16), 32-wide ones
    take <= 128 and spill at most 20 bytes (scripts/triton_aot.py); a GPU run is to confirm the speed."""
    return max(16, min(32, triton.next_power_of_2(max(size, 1))))


def _forward_launch(x, weight, bias, h, corruption: float, seed: int | None, state) -> Launch:
    """seed None: the (seed, base) pair is read from ``state`` (drawn on the device); else the
    kernel stores (seed, 0) there."""
    n, n_visible = x.shape
    n_hidden = weight.shape[1]
    bm, bn, bk = _block(n), _block(n_hidden), _block(n_visible)
    return Launch(
        _forward_kernel, (triton.cdiv(n, bm), triton.cdiv(n_hidden, bn)),
        (x, weight, bias, h, state, n, n_visible, n_hidden, float(corruption), int(seed or 0)),
        dict(SEED_IN_STATE=seed is None, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk),
    )  # fmt: skip


def _grad_x_launch(grad_h, h, weight, grad_x, corruption: float, state) -> Launch:
    n, n_visible = grad_x.shape
    n_hidden = weight.shape[1]
    bm, bn, bk = _block(n), _block(n_hidden), _block(n_visible)
    return Launch(
        _grad_x_kernel, (triton.cdiv(n, bm), triton.cdiv(n_visible, bk)),
        (grad_h, h, weight, grad_x, state, n, n_visible, n_hidden, float(corruption)),
        dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk),
    )  # fmt: skip


def _grad_w_launch(grad_h, h, x, grad_w, grad_b, corruption: float, state) -> Launch:
    n, n_visible = x.shape
    n_hidden = grad_w.shape[1]
    bm, bn, bk = _block(n), _block(n_hidden), _block(n_visible)
    # At least one block of n_visible, so that grad_b is written even when n_visible = 0.
    grid = (max(1, triton.cdiv(n_visible, bk)), triton.cdiv(n_hidden, bn))
    return Launch(
        _grad_w_kernel, grid, (grad_h, h, x, grad_w, grad_b, state, n, n_visible, n_hidden, float(corruption)),
        dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk),
    )  # fmt: skip


@triton_op("fastgen::corrupt_encode_triton", mutates_args=())
def corrupt_encode_triton(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, corruption: float, seed: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    return encode(x, weight, bias, corruption, seed)


def encode(x, weight, bias, corruption: float, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, rng_state) by the fused forward kernel; also the encoder of fastgen::tied_autoencoder_triton."""
    n = x.shape[0]
    n_hidden = weight.shape[1]
    h = x.new_empty((n, n_hidden))
    if not (n and n_hidden):  # no kernel runs, nothing is drawn (the generator is not advanced)
        return h, x.new_zeros((2,), dtype=torch.int64)
    state = stream.draw_key(x.device) if seed is None else x.new_empty((2,), dtype=torch.int64)
    _forward_launch(x, weight, bias, h, corruption, seed, state).run()
    return h, state


@triton_op("fastgen::_corrupt_encode_backward_triton", mutates_args=())
def corrupt_encode_backward_triton(
    grad_h: torch.Tensor,
    h: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    corruption: float,
    rng_state: torch.Tensor,
    grad_x_needed: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, n_visible = x.shape
    n_hidden = weight.shape[1]
    grad_x = torch.empty_like(x) if grad_x_needed else x.new_empty((0,))
    grad_w = torch.empty_like(weight)
    grad_b = weight.new_empty((n_hidden,))
    if grad_x_needed and n and n_visible:
        _grad_x_launch(grad_h, h, weight, grad_x, corruption, rng_state).run()
    if n_hidden:
        _grad_w_launch(grad_h, h, x, grad_w, grad_b, corruption, rng_state).run()
    return grad_x, grad_w, grad_b


# Ahead-of-time compilation (scripts/triton_aot.py): shapes [N, n_visible, n_hidden] that reach
# every tile side _block picks (16, 32) with and without 16-divisible sizes; the first is the
# MNIST DAE of the benchmarks.
AOT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
AOT_SHAPES = ((256, 784, 1024), (1, 5, 3), (33, 20, 40), (1024, 784, 1024))


def aot_cases(shape: tuple[int, int, int], dtype: torch.dtype) -> AotCases:
    n, n_visible, n_hidden = shape
    x, h = meta(n, n_visible, dtype=dtype), meta(n, n_hidden, dtype=dtype)
    weight, bias = meta(n_visible, n_hidden, dtype=dtype), meta(n_hidden, dtype=dtype)
    state = meta(2, dtype=torch.int64)
    seed = 2**40 + 7  # explicit seeds are 63-bit: Triton passes them as int64
    label = f"{shape}"
    yield label, _forward_launch(x, weight, bias, h, 0.3, seed, state)
    yield f"generator {shape}", _forward_launch(x, weight, bias, h, 0.3, None, state)
    yield label, _grad_x_launch(h, h, weight, x, 0.3, state)
    yield label, _grad_w_launch(h, h, x, weight, bias, 0.3, state)
