"""Philox streams drawn by Triton's own tl.rand / tl.randn: the Triton side of the
bit-identity tests between backends, and a fast way to draw the same numbers on a GPU."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from fastgen.ops._registry import Capabilities

# int64 element offsets in, float32 tl.rand / tl.randn numbers out.
CAPABILITIES = Capabilities(devices=("cuda",), compute={torch.int64: torch.float32})

_BLOCK = 1024


@triton.jit
def _draw_kernel(offsets_ptr, out_ptr, n, seed, NORMAL: tl.constexpr, BLOCK: tl.constexpr):
    index = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = index < n
    offsets = tl.load(offsets_ptr + index, mask=mask, other=0)
    value = tl.randn(seed, offsets) if NORMAL else tl.rand(seed, offsets)
    tl.store(out_ptr + index, value, mask=mask)


def _draw(offsets: torch.Tensor, seed: int, normal: bool) -> torch.Tensor:
    offsets = offsets.contiguous()
    out = torch.empty(offsets.shape, dtype=torch.float32, device=offsets.device)
    n = offsets.numel()
    if n:
        wrap_triton(_draw_kernel)[(triton.cdiv(n, _BLOCK),)](offsets, out, n, int(seed), NORMAL=normal, BLOCK=_BLOCK)
    return out


@triton_op("fastgen::philox_uniform_triton", mutates_args=())
def philox_uniform_triton(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return _draw(offsets, seed, normal=False)


@triton_op("fastgen::philox_normal_triton", mutates_args=())
def philox_normal_triton(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return _draw(offsets, seed, normal=True)
