"""``fastgen.ops.philox_uniform`` / ``philox_normal``: the numbers every fastgen kernel draws.

Element i of the result is tl.rand(seed, offsets[i]) (resp. tl.randn): Philox4x32-10 keyed by
the 64-bit seed, counter = the 64-bit offset (see csrc/common/philox.h). Integers and uniforms
are bit-identical on every backend; normals agree to the ulp of the math library's log/cos.
"""

from __future__ import annotations

import torch

from fastgen import backends
from fastgen.ops import _checks, philox
from fastgen.ops._registry import compiled_op

__all__ = ["philox_normal", "philox_uniform"]


def _implementations(normal: bool) -> dict:
    reference = philox.normal if normal else philox.uniform
    impls = {"torch": lambda offsets, seed: reference(seed, offsets)}
    compiled = compiled_op("philox_normal" if normal else "philox_uniform")
    if compiled is not None:
        impls["cpp"] = impls["cuda"] = compiled
    if backends.triton_usable():
        from fastgen.ops.triton.philox import philox_normal_triton, philox_uniform_triton

        impls["triton"] = philox_normal_triton if normal else philox_uniform_triton
    return impls


def _draw(offsets: torch.Tensor, seed: int, backend: str | None, normal: bool) -> torch.Tensor:
    _checks.tensor(offsets, "offsets")
    if offsets.dtype != torch.int64:
        raise TypeError(f"offsets must be an int64 tensor, got {offsets.dtype}")
    seed = philox.check_seed(seed)
    name = "philox_normal" if normal else "philox_uniform"
    impl = backends.select(name, _implementations(normal), offsets.device, backend)
    return impl(offsets, seed)


def philox_uniform(offsets: torch.Tensor, seed: int, *, backend: str | None = None) -> torch.Tensor:
    """U[0, 1) float32 numbers of the shape of ``offsets`` (int64): tl.rand(seed, offsets)."""
    return _draw(offsets, seed, backend, normal=False)


def philox_normal(offsets: torch.Tensor, seed: int, *, backend: str | None = None) -> torch.Tensor:
    """N(0, 1) float32 numbers of the shape of ``offsets`` (int64): tl.randn(seed, offsets)."""
    return _draw(offsets, seed, backend, normal=True)
