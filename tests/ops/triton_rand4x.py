"""A Triton kernel that calls Triton's own tl.rand4x / tl.randn4x, for tests/ops/test_philox.py:
the library definition the Philox spec of every backend is checked against."""

import torch
import triton
import triton.language as tl

_BLOCK = 256


@triton.jit
def _kernel(counters_ptr, uniforms_ptr, normals_ptr, n, seed, BLOCK: tl.constexpr):
    index = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = index < n
    counters = tl.load(counters_ptr + index, mask=inside, other=0)
    u0, u1, u2, u3 = tl.rand4x(seed, counters)
    n0, n1, n2, n3 = tl.randn4x(seed, counters)
    out = 4 * index.to(tl.int64)
    tl.store(uniforms_ptr + out, u0, mask=inside)
    tl.store(uniforms_ptr + out + 1, u1, mask=inside)
    tl.store(uniforms_ptr + out + 2, u2, mask=inside)
    tl.store(uniforms_ptr + out + 3, u3, mask=inside)
    tl.store(normals_ptr + out, n0, mask=inside)
    tl.store(normals_ptr + out + 1, n1, mask=inside)
    tl.store(normals_ptr + out + 2, n2, mask=inside)
    tl.store(normals_ptr + out + 3, n3, mask=inside)


def draw(counters: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, 4] uniforms and normals: row i holds tl.rand4x / tl.randn4x(seed, counters[i])."""
    n = counters.numel()
    uniforms = torch.empty(n, 4, device=counters.device)
    normals = torch.empty(n, 4, device=counters.device)
    _kernel[(triton.cdiv(n, _BLOCK),)](counters.contiguous(), uniforms, normals, n, seed, BLOCK=_BLOCK)
    return uniforms, normals
