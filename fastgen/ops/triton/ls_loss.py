"""Triton kernels of the least-squares GAN losses, spread over many programs: each program takes
BLOCK scores, writes their gradient (d - t) / count and one partial sum of 1/2 (d - t)^2 / count
in float32; one more program adds the partial sums in a fixed order, so the loss is
deterministic. (2^20 scores in a single program would leave all but one SM idle.)"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op

from fastgen.ops._registry import Capabilities
from fastgen.ops.triton._launch import AotCases, Launch, meta

# Scores are loaded in their dtype and summed in float32; no float64.
CAPABILITIES = Capabilities(
    devices=("cuda",),
    compute={torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.float32: torch.float32},
)

_BLOCK = 2048  # scores per program
_SUM_BLOCK = 1024  # partial sums added per step by the final program


@triton.jit
def _partial_kernel(d_ptr, grad_ptr, partial_ptr, count, target, BLOCK: tl.constexpr):
    """Writes (d - target) / count into grad and one partial sum of 1/2 (d - target)^2 / count."""
    target = tl.cast(target, tl.float32)
    inv_count = 1.0 / tl.cast(count, tl.float32)
    block = tl.program_id(0)
    offsets = block.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    inside = offsets < count
    diff = tl.load(d_ptr + offsets, mask=inside, other=0.0).to(tl.float32) - target
    tl.store(grad_ptr + offsets, (diff * inv_count).to(grad_ptr.dtype.element_ty), mask=inside)
    partial = tl.sum(tl.where(inside, 0.5 * diff * diff, 0.0), axis=0) * inv_count
    tl.store(partial_ptr + block, partial)


@triton.jit
def _sum_kernel(partial_ptr, count, loss_ptr, BLOCK: tl.constexpr):
    total = tl.zeros((BLOCK,), dtype=tl.float32)
    for start in range(0, count, BLOCK):
        offsets = start + tl.arange(0, BLOCK)
        total += tl.load(partial_ptr + offsets, mask=offsets < count, other=0.0)
    tl.store(loss_ptr, tl.sum(total, axis=0).to(loss_ptr.dtype.element_ty))


def _partial_launch(scores, grad, partials, target: float) -> Launch:
    return Launch(_partial_kernel, (triton.cdiv(scores.numel(), _BLOCK),),
                  (scores, grad, partials, scores.numel(), float(target)), dict(BLOCK=_BLOCK))  # fmt: skip


def _sum_launch(partials, loss) -> Launch:
    return Launch(_sum_kernel, (1,), (partials, partials.numel(), loss), dict(BLOCK=_SUM_BLOCK))


def _loss(loss: torch.Tensor, *segments: tuple[torch.Tensor, torch.Tensor, float]) -> None:
    """loss = sum over (scores, grad, target) segments of mean 1/2 (scores - target)^2; writes grad."""
    blocks = [triton.cdiv(scores.numel(), _BLOCK) for scores, _, _ in segments]
    partials = torch.empty(sum(blocks), dtype=torch.float32, device=loss.device)
    start = 0
    for (scores, grad, target), count in zip(segments, blocks, strict=True):
        _partial_launch(scores, grad, partials[start : start + count], target).run()
        start += count
    _sum_launch(partials, loss).run()


@triton_op("fastgen::ls_discriminator_loss_triton", mutates_args=())
def ls_discriminator_loss_triton(
    d_real: torch.Tensor, d_fake: torch.Tensor, a: float, b: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    loss = d_real.new_empty(())
    grad_real, grad_fake = torch.empty_like(d_real), torch.empty_like(d_fake)
    _loss(loss, (d_real, grad_real, b), (d_fake, grad_fake, a))
    return loss, grad_real, grad_fake


@triton_op("fastgen::ls_generator_loss_triton", mutates_args=())
def ls_generator_loss_triton(d_fake: torch.Tensor, c: float) -> tuple[torch.Tensor, torch.Tensor]:
    loss = d_fake.new_empty(())
    grad_fake = torch.empty_like(d_fake)
    _loss(loss, (d_fake, grad_fake, c))
    return loss, grad_fake


# Ahead-of-time compilation (scripts/triton_aot.py): score counts with and without 16-divisible
# sizes (and Triton's constant-1 specialisation of a count of 1); the first is the benchmarks' 2^20.
AOT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
AOT_SHAPES = (2**20, 64, 1, 1000)


def aot_cases(count: int, dtype: torch.dtype) -> AotCases:
    scores, loss = meta(count, dtype=dtype), meta(dtype=dtype)
    blocks = triton.cdiv(count, _BLOCK)
    yield f"{count} scores", _partial_launch(scores, scores, meta(blocks), 1.0)
    yield f"{count} scores", _sum_launch(meta(2 * blocks), loss)
