"""``fastgen.ops.philox_uniform`` / ``philox_normal``: the numbers every fastgen kernel draws.

Element i of the result is number offsets[i] of the Philox4x32-10 stream keyed by the 64-bit
seed: word offsets[i] & 3 of the call on counter offsets[i] >> 2, as Triton's tl.rand4x (resp.
Box-Muller on its word pair, as tl.randn4x); see csrc/common/philox.h. Integers and uniforms
are bit-identical on every backend; normals agree to the ulp of the math library's log/cos.
The draws have no gradient.
"""

from __future__ import annotations

import torch

from fastgen.ops import _cases, _checks, compiled, philox
from fastgen.ops._registry import OpDescription, TritonKernels, register

__all__ = ["philox_normal", "philox_uniform"]


def _fake(offsets, seed):
    return offsets.new_empty(offsets.shape, dtype=torch.float32)


def _uniform_reference(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return philox.uniform(seed, offsets)


def _normal_reference(offsets: torch.Tensor, seed: int) -> torch.Tensor:
    return philox.normal(seed, offsets)


def _describe(name: str, reference, atol: float) -> OpDescription:
    return OpDescription(
        name=name,
        reference=reference,
        fake=_fake,
        implementations={
            **compiled.implementations(cpp=compiled.OFFSETS, cuda=compiled.OFFSETS),
            "triton": TritonKernels("philox"),
        },
        cases=lambda: _draw_cases(name, atol),
    )


# Uniforms are bit-identical on every backend (atol 0); normals agree to the ulp of log and cos.
UNIFORM = register(_describe("philox_uniform", _uniform_reference, atol=0.0))
NORMAL = register(_describe("philox_normal", _normal_reference, atol=_cases.PHILOX_NORMAL_ATOL))


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


# --- the contract's cases (fastgen/ops/_cases.py) --------------------------------------------------


def _offsets_around_2_32(shape, generator):
    """Offsets around 2**32: the high word of the counter is exercised."""
    count = int(torch.Size(shape).numel())
    return [torch.arange(count, dtype=torch.int64).view(shape) * 7919 + 2**32 - 3 * count]


def _draw_cases(name: str, atol: float) -> _cases.OpCases:
    draw = philox_uniform if name == "philox_uniform" else philox_normal
    return _cases.OpCases(
        make=_offsets_around_2_32,
        call=lambda inputs, backend: draw(*inputs, _cases.SEED, backend=backend),
        outputs=("u" if draw is philox_uniform else "eps",),
        inputs=("offsets",),
        shapes=[(1,), (1031,), (3, 7), (0,)],
        strided_shape=(5, 4),
        op_args=lambda inputs: (inputs[0], _cases.SEED),
        dtypes=(torch.int64,),
        atol=atol,
        bad=[
            (lambda: draw(torch.arange(3, dtype=torch.int32), 0), TypeError, "offsets must be an int64"),
            (lambda: draw([0, 1], 0), TypeError, "offsets must be a torch.Tensor"),
            (lambda: draw(torch.arange(3), -1), ValueError, r"seed must be in \[0, 2\*\*63 - 1\]"),
            (lambda: draw(torch.arange(3), 1.5), TypeError, "seed must be an int"),
        ],
    )
