"""What an op is tested on, stated beside the op: one ``OpCases`` per op, given to its
``OpDescription`` as ``cases``, read by both ``fastgen selftest`` (fastgen/selftest.py) and the
contract suite (tests/ops/test_contract.py).

An op's cases say what only the op knows: how to make its inputs for a shape, which shapes
exercise its kernels' edges (a single element, primes, not a multiple of a block, empty), the
arguments of its custom ops, the bad calls its public function must refuse, and the error its
outputs may carry beyond the rounding of sums (``atol``). The rules common to every op (the
tolerance per dtype) belong to the two suites.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# The seed every case draws its op's noise from; the inputs come from generators of their own.
SEED = 1234
FLOATING = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
# Every backend draws Philox normals in float32 with Box-Muller, and log and cos differ by an ulp
# or two between math libraries: |eps| < 6, so eps differs by up to 4 ulp(6) = 2.9e-6.
PHILOX_NORMAL_ATOL = 4 * 6 * 2**-23


def rng_state() -> torch.Tensor:
    """What a forward given SEED hands its backward op: (seed, base) with base 0."""
    return torch.tensor([SEED, 0])


def normal(generator: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    """float64 N(0, scale^2) numbers on the CPU: the cases' usual input."""
    return scale * torch.randn(shape, generator=generator, dtype=torch.float64)


@dataclass(frozen=True)
class OpCases:
    """One op's test inputs.

    make(shape, generator): CPU inputs in float64 (int64 for offsets); the suites cast the
        floating ones to the dtype under test and move them to the backend's device.
    call(inputs, backend): the public function; a tensor or a tuple of tensors.
    outputs, inputs: names of the call's outputs and of its inputs, for reports ("grad mu").
    shapes: the shapes made; shapes[1] is small enough for gradcheck and gradgradcheck.
    strided_shape: made once and laid out non-contiguously.
    op_args(inputs) / backward_op_args(inputs): arguments of the forward / backward custom op.
    bad: (call, exception, regex naming the argument), each refused before any backend runs.
    differentiable: indices of the inputs that get gradients.
    dtypes: the dtypes tested; op_dtype(dtype): the dtype the public function hands its op.
    atol: absolute error every backend may add to the suites' tolerance, whatever the dtype
        (draws of Philox normals: PHILOX_NORMAL_ATOL times their largest scale).
    name, op: filled in by ``Op.cases`` from the registered op.
    """

    make: Callable
    call: Callable
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    shapes: list
    strided_shape: object
    op_args: Callable
    bad: list
    differentiable: tuple[int, ...] = ()
    backward_op_args: Callable | None = None
    dtypes: tuple[torch.dtype, ...] = FLOATING
    op_dtype: Callable = lambda dtype: dtype
    atol: float = 0.0
    name: str = ""
    op: object = None

    def __str__(self) -> str:
        return self.name

    @property
    def grads(self) -> tuple[str, ...]:
        """The names of the differentiable inputs."""
        return tuple(self.inputs[i] for i in self.differentiable)
