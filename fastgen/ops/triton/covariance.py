"""Triton kernel of the shifted moments s = sum_i (x_i - c), G = sum_i (x_i - c)(x_i - c)^T, and the
covariance built on them.

One program owns one output tile G[I, J] with J >= I (G is symmetric: the lower tiles are written
as transposes of the upper ones, never computed; a diagonal tile keeps its upper triangle and
mirrors it, so G is bit-symmetric even where the tile's product is not, as under tf32x3, and
each diagonal tile is written once). It walks the N rows in BLOCK_N chunks, centring
both operands as they are loaded (x - c, masked rows contribute 0), and accumulates their product
in float32 with tl.dot. Precision: ``"tf32x3"`` on GPUs with tensor cores (the 3xTF32 split,
a_hi b_hi + a_hi b_lo + a_lo b_hi, which keeps float32 accuracy while using the tensor cores),
``"ieee"`` (plain float32 FMA) under the interpreter and as a choice. Plain TF32 (10-bit mantissa,
~1e-3 relative error in G) is not offered: FID needs the covariance to float32 accuracy.
The diagonal programs also take the column sums s.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op

from fastgen import backends
from fastgen.ops._registry import Capabilities
from fastgen.ops.triton._launch import AotCases, Launch, meta

# float32 only (ops/covariance.py widens half precision; float64 runs on torch or cpp): tl.dot
# accumulates in float32, in 3xTF32 on tensor cores.
CAPABILITIES = Capabilities(devices=("cuda",), compute={torch.float32: torch.float32})


@triton.jit
def _centred(x_ptr, shift_ptr, rows, cols, n, d):
    mask = (rows[:, None] < n) & (cols[None, :] < d)
    x = tl.load(x_ptr + rows[:, None].to(tl.int64) * d + cols[None, :], mask=mask, other=0.0)
    c = tl.load(shift_ptr + cols, mask=cols < d, other=0.0)
    return tl.where(mask, x - c[None, :], 0.0)


@triton.jit
def _shifted_moments_kernel(x_ptr, shift_ptr, sums_ptr, gram_ptr, n, d,
                            PRECISION: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):  # fmt: skip
    tile_i = tl.program_id(0)
    tile_j = tl.program_id(1)
    if tile_j < tile_i:
        return
    b = tl.program_id(2).to(tl.int64)
    x_ptr += b * n * d
    shift_ptr += b * d
    cols_i = tile_i * BLOCK_D + tl.arange(0, BLOCK_D)
    cols_j = tile_j * BLOCK_D + tl.arange(0, BLOCK_D)
    acc = tl.zeros((BLOCK_D, BLOCK_D), dtype=tl.float32)
    col_sum = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for start in range(0, n, BLOCK_N):
        rows = start + tl.arange(0, BLOCK_N)
        a = _centred(x_ptr, shift_ptr, rows, cols_i, n, d)
        bj = _centred(x_ptr, shift_ptr, rows, cols_j, n, d)
        acc = tl.dot(tl.trans(a), bj, acc, input_precision=PRECISION)
        col_sum += tl.sum(a, axis=0)
    gram_ptr += b * d * d
    mask = (cols_i[:, None] < d) & (cols_j[None, :] < d)
    upper = cols_i[:, None].to(tl.int64) * d + cols_j[None, :]
    if tile_i == tile_j:
        acc = tl.where(cols_i[:, None] <= cols_j[None, :], acc, tl.trans(acc))
        tl.store(gram_ptr + upper, acc, mask=mask)
        tl.store(sums_ptr + b * d + cols_i, col_sum, mask=cols_i < d)
    else:
        tl.store(gram_ptr + upper, acc, mask=mask)
        tl.store(gram_ptr + cols_j[None, :].to(tl.int64) * d + cols_i[:, None], acc, mask=mask)


def _precision(device: torch.device) -> str:
    if backends.triton_interpreted() or device.type != "cuda":
        return "ieee"
    return precision_for(torch.cuda.get_device_capability(device)[0])


def precision_for(capability_major: int) -> str:
    """The dot precision on a GPU: 3xTF32 on tensor-core GPUs (sm_80 and newer), else IEEE."""
    return "tf32x3" if capability_major >= 8 else "ieee"


def _moments_launch(x, shift, sums, gram, precision: str) -> Launch:
    sets, n, d = x.shape
    block_d = 64 if d > 32 else 32  # tl.dot needs tiles of at least 16; 32 keeps small d cheap
    tiles = triton.cdiv(d, block_d)
    return Launch(
        _shifted_moments_kernel,
        (tiles, tiles, sets),
        (x, shift, sums, gram, n, d),
        dict(PRECISION=precision, BLOCK_D=block_d, BLOCK_N=32),
    )


@triton_op("fastgen::shifted_moments_triton", mutates_args=())
def shifted_moments(x: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, N, d] float32, shift [B, d] -> (s [B, d], G [B, d, d]) float32."""
    x, shift = x.contiguous(), shift.contiguous()
    sets, n, d = x.shape
    sums = x.new_zeros((sets, d))
    gram = x.new_zeros((sets, d, d))
    if n and d:
        _moments_launch(x, shift, sums, gram, _precision(x.device)).run()
    return sums, gram


@triton_op("fastgen::covariance_triton", mutates_args=())
def covariance(x: torch.Tensor) -> torch.Tensor:
    """x [B, N, d] float32 -> unbiased covariance [B, d, d]: centred on the mean, G - s s^T / N over N - 1."""
    n = x.shape[1]
    mean = x.mean(dim=1)
    sums, gram = shifted_moments(x, mean)
    return (gram - sums.unsqueeze(2) * sums.unsqueeze(1) / n) / (n - 1)


# Ahead-of-time compilation (scripts/triton_aot.py): float32 features [B, N, d] reaching both
# tile sides (32 for d <= 32, else 64) with and without 16-divisible sizes, in the precision the
# launcher picks on sm_80/sm_90 (tf32x3); the first is the FID feature size.
AOT_DTYPES = (torch.float32,)
AOT_SHAPES = ((1, 4096, 2048), (1, 10, 3), (2, 100, 64), (1, 37, 100))


def aot_cases(shape: tuple[int, int, int], dtype: torch.dtype) -> AotCases:
    sets, n, d = shape
    x = meta(sets, n, d, dtype=dtype)
    launch = _moments_launch(x, meta(sets, d), meta(sets, d), meta(sets, d, d), precision_for(8))
    yield f"{shape}", launch
