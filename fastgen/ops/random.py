"""``fastgen.ops.philox_uniform`` / ``philox_normal``: the numbers every fastgen kernel draws.

Element i of the result is number offsets[i] of the Philox4x32-10 stream keyed by the 64-bit
seed: word offsets[i] & 3 of the call on counter offsets[i] >> 2, as Triton's tl.rand4x (resp.
Box-Muller on its word pair, as tl.randn4x); see csrc/common/philox.h. Integers and uniforms
are bit-identical on every backend; normals agree to the ulp of the math library's log/cos.
The draws have no gradient.
"""

from __future__ import annotations

import torch

from fastgen.ops import _checks, compiled, philox
from fastgen.ops._registry import OpDescription, register

__all__ = ["philox_normal", "philox_uniform"]


def _fake(offsets, seed):
    return offsets.new_empty(offsets.shape, dtype=torch.float32)


def _uniform_reference(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return philox.uniform(seed, offsets)


def _normal_reference(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return philox.normal(seed, offsets)


def _triton():
    from fastgen.ops.triton import philox as kernels

    return kernels.CAPABILITIES


def _describe(name: str, reference) -> OpDescription:
    return OpDescription(
        name=name,
        reference=reference,
        fake=_fake,
        implementations={**compiled.implementations(name), "triton": _triton},
    )


UNIFORM = register(_describe("philox_uniform", _uniform_reference))
NORMAL = register(_describe("philox_normal", _normal_reference))


def _offsets(offsets) -> torch.Tensor:
    _checks.tensor(offsets, "offsets")
    if offsets.dtype != torch.int64:
        raise TypeError(f"offsets must be an int64 tensor, got {offsets.dtype}")
    return offsets


def philox_uniform(offsets: torch.Tensor, seed: int, *, backend: str | None = None) -> torch.Tensor:
    """U[0, 1) float32 numbers of the shape of ``offsets`` (int64): offset o gives
    tl.rand4x(seed, o >> 2)[o & 3]."""
    return UNIFORM(_offsets(offsets), philox.check_seed(seed), backend=backend)


def philox_normal(offsets: torch.Tensor, seed: int, *, backend: str | None = None) -> torch.Tensor:
    """N(0, 1) float32 numbers of the shape of ``offsets`` (int64): offset o gives
    tl.randn4x(seed, o >> 2)[o & 3]."""
    return NORMAL(_offsets(offsets), philox.check_seed(seed), backend=backend)
