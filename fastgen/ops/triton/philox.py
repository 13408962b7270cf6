"""The Philox stream in Triton: `uniform` and `normal`, the jit functions every fastgen Triton
kernel draws with, and the philox_uniform / philox_normal ops built on them (the Triton side of
the bit-identity tests between backends, and a fast way to draw the same numbers on a GPU).

Element o of the stream is word o & 3 of Triton's own tl.randint4x(seed, o >> 2) (csrc/common/
philox.h states the spec): an element picks its word from the four its counter gives, so a kernel
may draw any offsets it likes, in any layout."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op

from fastgen.ops._registry import Capabilities
from fastgen.ops.triton._launch import AotCases, Launch, meta

# int64 element offsets in, float32 numbers out.
CAPABILITIES = Capabilities(devices=("cuda",), compute={torch.int64: torch.float32})

_BLOCK = 1024


@triton.jit
def _counter_uniforms(seed, offsets):
    """The four uniforms of the Philox call on each element's counter (Triton's own tl.rand4x),
    and the element's word index (0-3)."""
    offsets = offsets.to(tl.int64)
    counters = (offsets >> 2) & 0x3FFFFFFFFFFFFFFF  # a logical shift of the uint64 offset
    u0, u1, u2, u3 = tl.rand4x(seed, counters)
    return u0, u1, u2, u3, offsets & 3


@triton.jit
def uniform(seed, offsets):
    """U[0, 1) float32: element o is tl.rand4x(seed, o >> 2)[o & 3]."""
    u0, u1, u2, u3, lane = _counter_uniforms(seed, offsets)
    return tl.where(lane < 2, tl.where(lane == 0, u0, u1), tl.where(lane == 2, u2, u3))


@triton.jit
def normal(seed, offsets):
    """N(0, 1) float32: element o is tl.randn4x(seed, o >> 2)[o & 3] (Box-Muller on the word pair
    (0, 1) or (2, 3); cosine for even o, sine for odd o)."""
    u0, u1, u2, u3, lane = _counter_uniforms(seed, offsets)
    first = tl.maximum(tl.where(lane < 2, u0, u2), 1.0e-7)
    second = tl.where(lane < 2, u1, u3)
    theta = 6.283185307179586 * second
    radius = tl.sqrt(-2.0 * tl.log(first))
    return radius * tl.where((lane & 1) == 1, tl.sin(theta), tl.cos(theta))


@triton.jit
def forward_key(state_ptr, seed, SEED_IN_STATE: tl.constexpr):
    """(seed, base) of a forward call: element i of the call is stream element base + i.

    SEED_IN_STATE: the pair is loaded from ``state_ptr`` (drawn on the device by torch's generator,
    ``fastgen.ops.philox.draw_key``, so a CUDA-graph replay reads a new one); else it is the explicit
    ``seed`` with base 0, which program (0, 0) stores at ``state_ptr`` for the backward."""
    if SEED_IN_STATE:
        key = tl.load(state_ptr)
        base = tl.load(state_ptr + 1)
    else:
        key = tl.cast(seed, tl.int64)
        base = tl.cast(0, tl.int64)
        if (tl.program_id(0) == 0) & (tl.program_id(1) == 0):
            tl.store(state_ptr, key)
            tl.store(state_ptr + 1, base)
    return key, base


@triton.jit
def recorded_key(state_ptr):
    """(seed, base) a forward recorded at ``state_ptr``: what its backward draws again from."""
    return tl.load(state_ptr), tl.load(state_ptr + 1)


@triton.jit
def _draw_kernel(offsets_ptr, out_ptr, n, seed, NORMAL: tl.constexpr, BLOCK: tl.constexpr):
    index = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # n can pass 2^31
    mask = index < n
    offsets = tl.load(offsets_ptr + index, mask=mask, other=0)
    value = normal(seed, offsets) if NORMAL else uniform(seed, offsets)
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
