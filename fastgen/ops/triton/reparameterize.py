"""Triton kernels of the VAE reparameterization: a program handles BLOCK_R rows, walking the
latent dimension in BLOCK_D chunks; eps comes from philox.normal(seed, element offset), the same
Philox stream as the C++ kernels and the reference, and is redrawn in backward from the (seed,
base) pair the forward recorded in a device tensor (philox.forward_key / recorded_key): without a
seed the pair is drawn on the device, so a CUDA graph draws new noise at every replay. Row indices
are int64 (rows x d can pass 2^31)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op

from fastgen.ops import philox as stream
from fastgen.ops._registry import Capabilities
from fastgen.ops.triton import philox
from fastgen.ops.triton._launch import AotCases, Launch, meta

# Half precision is loaded in its dtype and computed in float32; no float64 (Philox normals are float32).
CAPABILITIES = Capabilities(
    devices=("cuda",),
    compute={torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.float32: torch.float32},
)


@triton.jit
def _noise(eps_ptr, seed, base, offsets, mask, HAS_EPS: tl.constexpr):
    if HAS_EPS:
        return tl.load(eps_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    return philox.normal(seed, base + offsets)


@triton.jit
def _forward_kernel(mu_ptr, logvar_ptr, eps_ptr, z_ptr, kl_ptr, state_ptr, rows, d, seed,
                    HAS_EPS: tl.constexpr, SEED_IN_STATE: tl.constexpr, BLOCK_R: tl.constexpr,
                    BLOCK_D: tl.constexpr):  # fmt: skip
    key, base = philox.forward_key(state_ptr, seed, SEED_IN_STATE)
    row = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = row < rows
    kl = tl.zeros((BLOCK_R,), dtype=tl.float32)
    for start in range(0, d, BLOCK_D):
        col = start + tl.arange(0, BLOCK_D)
        offsets = row[:, None].to(tl.int64) * d + col[None, :]
        mask = row_ok[:, None] & (col[None, :] < d)
        mu = tl.load(mu_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        logvar = tl.load(logvar_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        eps = _noise(eps_ptr, key, base, offsets, mask, HAS_EPS)
        z = mu + tl.exp(0.5 * logvar) * eps
        tl.store(z_ptr + offsets, z.to(z_ptr.dtype.element_ty), mask=mask)
        term = -0.5 * (1.0 + logvar - mu * mu - tl.exp(logvar))
        kl += tl.sum(tl.where(mask, term, 0.0), axis=1)
    tl.store(kl_ptr + row, kl.to(kl_ptr.dtype.element_ty), mask=row_ok)


@triton.jit
def _backward_kernel(grad_z_ptr, grad_z_stride, grad_kl_ptr, mu_ptr, logvar_ptr, eps_ptr, grad_mu_ptr,
                     grad_logvar_ptr, state_ptr, rows, d,
                     HAS_EPS: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):  # fmt: skip
    key, base = philox.recorded_key(state_ptr)
    row = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = row < rows
    grad_kl = tl.load(grad_kl_ptr + row, mask=row_ok, other=0.0).to(tl.float32)[:, None]
    for start in range(0, d, BLOCK_D):
        col = start + tl.arange(0, BLOCK_D)
        offsets = row[:, None].to(tl.int64) * d + col[None, :]
        mask = row_ok[:, None] & (col[None, :] < d)
        # grad_z_stride is 0 when grad_z is one value broadcast to every element.
        grad_z = tl.load(grad_z_ptr + offsets * grad_z_stride, mask=mask, other=0.0).to(tl.float32)
        mu = tl.load(mu_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        logvar = tl.load(logvar_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        eps = _noise(eps_ptr, key, base, offsets, mask, HAS_EPS)
        grad_mu = grad_z + grad_kl * mu
        grad_logvar = 0.5 * (grad_z * eps * tl.exp(0.5 * logvar) + grad_kl * (tl.exp(logvar) - 1.0))
        tl.store(grad_mu_ptr + offsets, grad_mu.to(grad_mu_ptr.dtype.element_ty), mask=mask)
        tl.store(grad_logvar_ptr + offsets, grad_logvar.to(grad_logvar_ptr.dtype.element_ty), mask=mask)


# Elements per program: 1024 is 8 per thread of the 4 warps. Each element draws its own Philox
# normal, and 4096 per program needed 255 registers and spilled (d = 17, ptxas for sm_80 and
# sm_90, see scripts/triton_aot.py); at 1024 the kernels take <= 128 registers and spill nothing.
_TILE = 1024


def _blocks(rows: int, d: int) -> tuple[int, int, tuple[int]]:
    block_d = min(triton.next_power_of_2(max(d, 1)), _TILE)
    block_r = max(1, min(triton.next_power_of_2(max(rows, 1)), _TILE // block_d))
    return block_r, block_d, (triton.cdiv(rows, block_r),)


def _forward_launch(mu, logvar, eps, z, kl, seed: int | None, state) -> Launch:
    """seed None: the (seed, base) pair is read from ``state`` (drawn on the device); else the
    kernel stores (seed, 0) there."""
    d = mu.shape[-1]
    rows = mu.numel() // d
    block_r, block_d, grid = _blocks(rows, d)
    return Launch(
        _forward_kernel, grid, (mu, logvar, mu if eps is None else eps, z, kl, state, rows, d, int(seed or 0)),
        dict(HAS_EPS=eps is not None, SEED_IN_STATE=seed is None, BLOCK_R=block_r, BLOCK_D=block_d),
    )  # fmt: skip


def _backward_launch(grad_z, grad_kl, mu, logvar, eps, grad_mu, grad_logvar, state) -> Launch:
    d = mu.shape[-1]
    rows = mu.numel() // d
    block_r, block_d, grid = _blocks(rows, d)
    grad_z_stride = 0 if grad_z.numel() == 1 else 1
    return Launch(
        _backward_kernel, grid,
        (grad_z, grad_z_stride, grad_kl, mu, logvar, mu if eps is None else eps, grad_mu, grad_logvar, state, rows,
         d),
        dict(HAS_EPS=eps is not None, BLOCK_R=block_r, BLOCK_D=block_d),
    )  # fmt: skip


@triton_op("fastgen::reparameterize_triton", mutates_args=())
def reparameterize_triton(
    mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None, seed: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    d = mu.shape[-1]
    rows = mu.numel() // d if d else 0
    z = torch.empty_like(mu)
    kl = mu.new_empty(mu.shape[:-1])
    if not rows:  # nothing drawn: the generator is not advanced (as the CUDA kernels)
        return z, kl.zero_(), mu.new_zeros((2,), dtype=torch.int64)
    if eps is not None:  # nothing drawn either: (seed or 0, 0) is recorded
        seed = seed or 0
    state = stream.draw_key(mu.device) if seed is None else mu.new_empty((2,), dtype=torch.int64)
    _forward_launch(mu, logvar, eps, z, kl, seed, state).run()
    return z, kl, state


@triton_op("fastgen::_reparameterize_backward_triton", mutates_args=())
def reparameterize_backward_triton(
    grad_z: torch.Tensor,
    grad_kl: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    eps: torch.Tensor | None,
    rng_state: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    d = mu.shape[-1]
    rows = mu.numel() // d if d else 0
    grad_mu = torch.empty_like(mu)
    grad_logvar = torch.empty_like(mu)
    if rows:
        _backward_launch(grad_z, grad_kl, mu, logvar, eps, grad_mu, grad_logvar, rng_state).run()
    return grad_mu, grad_logvar


# Ahead-of-time compilation (scripts/triton_aot.py): the dtypes the kernels take and shapes
# [rows, d] that reach every block choice of _blocks (d = 1 is Triton's constant-1 specialisation,
# d % 16 == 0 or not its divisibility one); the first shape is the typical VAE latent.
AOT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
AOT_SHAPES = ((128, 32), (4096, 1024), (1000, 17), (3, 1), (2, 3000))


def aot_cases(shape: tuple[int, int], dtype: torch.dtype) -> AotCases:
    mu, logvar, out = meta(*shape, dtype=dtype), meta(*shape, dtype=dtype), meta(*shape, dtype=dtype)
    kl, state = meta(shape[0], dtype=dtype), meta(2, dtype=torch.int64)
    seed = 2**40 + 7  # explicit seeds are 63-bit: Triton passes them as int64
    for eps in (None, meta(*shape, dtype=dtype)):
        noise = "philox" if eps is None else "eps"
        yield f"{noise} {shape}", _forward_launch(mu, logvar, eps, out, kl, seed, state)
        yield f"{noise} {shape}", _backward_launch(out, kl, mu, logvar, eps, out, out, state)
    # no seed: the (seed, base) pair is loaded from the device (what a CUDA graph replays)
    yield f"generator {shape}", _forward_launch(mu, logvar, None, out, kl, None, state)
    # grad_z of z.sum() arrives as one value (stride 0, where the stride is otherwise the constant 1)
    yield f"broadcast grad_z {shape}", _backward_launch(meta(1, dtype=dtype), kl, mu, logvar, None, out, out, state)
