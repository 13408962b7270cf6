"""Triton kernels of the least-squares GAN losses: one program walks the scores in BLOCK chunks,
writing the gradient (d - t) / count and summing 1/2 (d - t)^2 in float32 in the same pass.
Discriminator outputs are one number per sample, so a single program is enough and keeps the
reduction deterministic."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from fastgen.ops._registry import Capabilities

# Scores are loaded in their dtype and summed in float32; no float64.
CAPABILITIES = Capabilities(
    devices=("cuda",),
    compute={torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.float32: torch.float32},
)

_BLOCK = 1024


@triton.jit
def _mean_half_square(d_ptr, grad_ptr, count, target, BLOCK: tl.constexpr):
    """Writes (d - target) / count into grad and returns mean(1/2 (d - target)^2)."""
    target = tl.cast(target, tl.float32)
    inv_count = 1.0 / tl.cast(count, tl.float32)
    total = tl.zeros((BLOCK,), dtype=tl.float32)
    for start in range(0, count, BLOCK):
        offsets = start + tl.arange(0, BLOCK)
        inside = offsets < count
        diff = tl.load(d_ptr + offsets, mask=inside, other=0.0).to(tl.float32) - target
        tl.store(grad_ptr + offsets, (diff * inv_count).to(grad_ptr.dtype.element_ty), mask=inside)
        total += tl.where(inside, 0.5 * diff * diff, 0.0)
    return tl.sum(total, axis=0) * inv_count


@triton.jit
def _discriminator_kernel(real_ptr, fake_ptr, loss_ptr, grad_real_ptr, grad_fake_ptr, n_real, n_fake, a, b,
                          BLOCK: tl.constexpr):  # fmt: skip
    loss = _mean_half_square(real_ptr, grad_real_ptr, n_real, b, BLOCK)
    loss += _mean_half_square(fake_ptr, grad_fake_ptr, n_fake, a, BLOCK)
    tl.store(loss_ptr, loss.to(loss_ptr.dtype.element_ty))


@triton.jit
def _generator_kernel(fake_ptr, loss_ptr, grad_fake_ptr, n_fake, c, BLOCK: tl.constexpr):
    loss = _mean_half_square(fake_ptr, grad_fake_ptr, n_fake, c, BLOCK)
    tl.store(loss_ptr, loss.to(loss_ptr.dtype.element_ty))


@triton_op("fastgen::ls_discriminator_loss_triton", mutates_args=())
def ls_discriminator_loss_triton(
    d_real: torch.Tensor, d_fake: torch.Tensor, a: float, b: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    loss = d_real.new_empty(())
    grad_real, grad_fake = torch.empty_like(d_real), torch.empty_like(d_fake)
    wrap_triton(_discriminator_kernel)[(1,)](
        d_real, d_fake, loss, grad_real, grad_fake, d_real.numel(), d_fake.numel(), float(a), float(b), BLOCK=_BLOCK
    )
    return loss, grad_real, grad_fake


@triton_op("fastgen::ls_generator_loss_triton", mutates_args=())
def ls_generator_loss_triton(d_fake: torch.Tensor, c: float) -> tuple[torch.Tensor, torch.Tensor]:
    loss = d_fake.new_empty(())
    grad_fake = torch.empty_like(d_fake)
    wrap_triton(_generator_kernel)[(1,)](d_fake, loss, grad_fake, d_fake.numel(), float(c), BLOCK=_BLOCK)
    return loss, grad_fake
