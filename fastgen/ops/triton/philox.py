"""Philox streams drawn by Triton's own tl.rand / tl.randn: the Triton side of the
bit-identity tests between backends, and a fast way to draw the same numbers on a GPU."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op

from fastgen.ops._registry import Capabilities
from fastgen.ops.triton._launch import AotCases, Launch, meta

# int64 element offsets in, float32 tl.rand / tl.randn numbers out.
CAPABILITIES = Capabilities(devices=("cuda",), compute={torch.int64: torch.float32})

_BLOCK = 1024


@triton.jit
def _draw_kernel(offsets_ptr, out_ptr, n, seed, NORMAL: tl.constexpr, BLOCK: tl.constexpr):
    index = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # n can pass 2^31
    mask = index < n
    offsets = tl.load(offsets_ptr + index, mask=mask, other=0)
    value = tl.randn(seed, offsets) if NORMAL else tl.rand(seed, offsets)
    tl.store(out_ptr + index, value, mask=mask)


def _draw_launch(offsets, out, seed: int, normal: bool) -> Launch:
    n = offsets.numel()
    grid = (triton.cdiv(n, _BLOCK),)
    return Launch(_draw_kernel, grid, (offsets, out, n, int(seed)), dict(NORMAL=normal, BLOCK=_BLOCK))


def _draw(offsets: torch.Tensor, seed: int, normal: bool) -> torch.Tensor:
    offsets = offsets.contiguous()
    out = torch.empty(offsets.shape, dtype=torch.float32, device=offsets.device)
    if offsets.numel():
        _draw_launch(offsets, out, seed, normal).run()
    return out


@triton_op("fastgen::philox_uniform_triton", mutates_args=())
def philox_uniform_triton(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return _draw(offsets, seed, normal=False)


@triton_op("fastgen::philox_normal_triton", mutates_args=())
def philox_normal_triton(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return _draw(offsets, seed, normal=True)


# Ahead-of-time compilation (scripts/triton_aot.py): counts with and without 16-divisible sizes.
AOT_DTYPES = (torch.float32,)
AOT_SHAPES = (2**20, 1000)


def aot_cases(count: int, dtype: torch.dtype) -> AotCases:
    offsets, out = meta(count, dtype=torch.int64), meta(count, dtype=dtype)
    for normal in (False, True):
        yield f"{count} {'normal' if normal else 'uniform'}", _draw_launch(offsets, out, 2**40 + 7, normal)
