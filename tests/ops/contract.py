"""What every op owes, as data: one ``OpCase`` per op for tests/ops/test_contract.py.

A case makes float64 (or int64) inputs on the CPU for a shape, calls the public function on a
backend, and gives the arguments of its custom ops (for opcheck) and the bad calls that must be
refused with a one-line error naming the argument. Adding an op = adding a case here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from fastgen.ops import (
    corrupt_encode,
    covariance,
    ls_discriminator_loss,
    ls_generator_loss,
    philox_normal,
    philox_uniform,
    reparameterize,
)
from fastgen.ops._registry import Op
from fastgen.ops.corrupt_encode import OP as CORRUPT_ENCODE
from fastgen.ops.covariance import COVARIANCE, SHIFTED_MOMENTS, shifted_moments
from fastgen.ops.ls_loss import DISCRIMINATOR, GENERATOR
from fastgen.ops.random import NORMAL, UNIFORM
from fastgen.ops.reference.covariance import compute_dtype
from fastgen.ops.reparameterize import OP as REPARAMETERIZE

SEED = 1234
# What a forward given SEED hands its backward op: (seed, base) with base 0.
RNG_STATE = torch.tensor([SEED, 0])
FLOATING = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
# Every backend draws Philox normals in float32 with Box-Muller; log and cos differ by an ulp or
# two between math libraries, so eps (|eps| < 6) differs by up to 4 ulp(6) = 2.9e-6. Outputs
# that carry eps scaled by std = exp(logvar / 2) <= 3 (the cases' logvar) may differ by 9e-6.
NORMAL_DRAW_ATOL = 3 * 4 * 6 * 2**-23


@dataclass(frozen=True)
class OpCase:
    """One op's contract inputs.

    make(shape, generator): CPU inputs in float64 (int64 for offsets); floating ones are cast to
        the tested dtype and moved to the backend's device.
    call(inputs, backend): the public function; a tensor or a tuple of tensors.
    differentiable: indices of the inputs that get gradients.
    op_args(inputs) / backward_op_args(inputs): arguments of the forward / backward custom op.
    bad: (call, exception, regex naming the argument), checked before any backend runs.
    dtypes: the dtypes tested; op_dtype(dtype): the dtype the public function hands its op.
    normal_draws: outputs carry Philox normals (see NORMAL_DRAW_ATOL).
    """

    name: str
    op: Op
    make: Callable
    call: Callable
    shapes: list
    strided_shape: object
    op_args: Callable
    bad: list
    differentiable: tuple[int, ...] = ()
    backward_op_args: Callable | None = None
    dtypes: tuple[torch.dtype, ...] = FLOATING
    normal_draws: bool = False
    op_dtype: Callable = lambda dtype: dtype

    def __str__(self) -> str:
        return self.name


def _normal(generator, *shape, scale=1.0):
    return scale * torch.randn(shape, generator=generator, dtype=torch.float64)


# --- reparameterize -------------------------------------------------------------------------------


def _reparameterize_inputs(shape, generator):
    return [_normal(generator, *shape), (0.5 * _normal(generator, *shape)).clamp(-2, 2)]


def _reparameterize_backward_args(inputs):
    mu, logvar = (t.float() for t in inputs)
    return (torch.ones_like(mu), torch.ones(mu.shape[:-1]), mu, logvar, None, RNG_STATE)


_ZEROS = torch.zeros(3, 4)

REPARAMETERIZE_CASE = OpCase(
    name="reparameterize",
    op=REPARAMETERIZE,
    make=_reparameterize_inputs,
    call=lambda inputs, backend: reparameterize(*inputs, seed=SEED, backend=backend),
    # (rows, d): one element, a prime d, a leading batch, more than one block of d, no rows
    shapes=[(1, 1), (7, 13), (3, 5, 37), (2, 1031), (0, 5)],
    strided_shape=(9, 6),
    op_args=lambda inputs: (*(t.float() for t in inputs), None, SEED),
    backward_op_args=_reparameterize_backward_args,
    differentiable=(0, 1),
    normal_draws=True,
    bad=[
        (lambda: reparameterize(_ZEROS, torch.zeros(3, 5)), ValueError, "logvar must have the shape of mu"),
        (lambda: reparameterize(_ZEROS.long(), _ZEROS), TypeError, "mu must have a floating dtype"),
        (lambda: reparameterize(_ZEROS, _ZEROS.double()), TypeError, "logvar has dtype"),
        (lambda: reparameterize(_ZEROS, torch.zeros(3, 4, device="meta")), ValueError, "logvar is on meta"),
        (lambda: reparameterize(_ZEROS, _ZEROS, eps=torch.zeros(4)), ValueError, "eps must have the shape of mu"),
        (lambda: reparameterize(torch.tensor(1.0), torch.tensor(1.0)), ValueError, "mu must have shape"),
        (lambda: reparameterize(torch.zeros(3, 0), torch.zeros(3, 0)), ValueError, "mu must have a latent"),
        (lambda: reparameterize([1.0], _ZEROS), TypeError, "mu must be a torch.Tensor"),
        (lambda: reparameterize(_ZEROS, _ZEROS, seed=-1), ValueError, "seed must be in"),
        (lambda: reparameterize(_ZEROS, _ZEROS, seed=1.5), TypeError, "seed must be an int"),
        (lambda: reparameterize(_ZEROS, _ZEROS, backend="fortran"), ValueError, "backend must be one of"),
    ],
)

# --- corrupt_encode -------------------------------------------------------------------------------


def _corrupt_encode_inputs(shape, generator):
    n, n_visible, n_hidden = shape
    x = torch.rand(n, n_visible, generator=generator, dtype=torch.float64)
    weight = _normal(generator, n_visible, n_hidden) / max(n_visible, 1) ** 0.5
    return [x, weight, _normal(generator, n_hidden)]


def _corrupt_encode_backward_args(inputs):
    x, weight, bias = (t.float() for t in inputs)
    h = torch.sigmoid(x @ weight + bias)
    return (torch.ones_like(h), h, x, weight, 0.3, RNG_STATE, True)


def _encode(x=None, weight=None, bias=None, corruption=0.3):
    x = torch.ones(3, 4) if x is None else x
    weight = torch.ones(4, 3) if weight is None else weight
    bias = torch.ones(3) if bias is None else bias
    return corrupt_encode(x, weight, bias, corruption=corruption, seed=0)


CORRUPT_ENCODE_CASE = OpCase(
    name="corrupt_encode",
    op=CORRUPT_ENCODE,
    make=_corrupt_encode_inputs,
    call=lambda inputs, backend: corrupt_encode(*inputs, corruption=0.3, seed=SEED, backend=backend),
    # (N, n_visible, n_hidden): ones, primes, not a multiple of the tiles, an empty batch
    shapes=[(1, 1, 1), (1, 13, 7), (17, 31, 5), (37, 70, 20), (0, 6, 4)],
    strided_shape=(11, 17, 13),
    op_args=lambda inputs: (*(t.float() for t in inputs), 0.3, SEED),
    backward_op_args=_corrupt_encode_backward_args,
    differentiable=(0, 1, 2),
    bad=[
        (lambda: _encode(corruption=1.0), ValueError, "corruption must be"),
        (lambda: _encode(corruption=-0.1), ValueError, "corruption must be"),
        (lambda: _encode(corruption=float("nan")), ValueError, "corruption must be"),
        (lambda: _encode(x=torch.ones(3, 5)), ValueError, "weight must have shape"),
        (lambda: _encode(x=torch.ones(3, 4, 1)), ValueError, "x must have shape"),
        (lambda: _encode(weight=torch.ones(4, 2)), ValueError, "bias must have shape"),
        (lambda: _encode(x=torch.ones(3, 4, dtype=torch.int64)), TypeError, "x must have a floating dtype"),
        (lambda: _encode(weight=torch.ones(4, 3, dtype=torch.int32)), TypeError, "weight must have a floating"),
        (lambda: _encode(x=[[1.0] * 4]), TypeError, "x must be a torch.Tensor"),
        (lambda: _encode(weight=torch.ones(4, 3, device="meta")), ValueError, "weight is on meta"),
        (lambda: _encode(bias=torch.ones(3, device="meta")), ValueError, "bias is on meta"),
    ],
)

# --- least-squares GAN losses ---------------------------------------------------------------------

_ONES = torch.ones(3)

LS_DISCRIMINATOR_CASE = OpCase(
    name="ls_discriminator_loss",
    op=DISCRIMINATOR,
    make=lambda shapes, generator: [_normal(generator, *shapes[0]), _normal(generator, *shapes[1])],
    call=lambda inputs, backend: ls_discriminator_loss(*inputs, -1.0, 1.0, backend=backend),
    shapes=[((1,), (1,)), ((37, 1), (5,)), ((3, 7, 11), (1031,)), ((2053,), (1,))],
    strided_shape=((8, 6), (10, 2)),
    op_args=lambda inputs: (*(t.float() for t in inputs), -1.0, 1.0),
    differentiable=(0, 1),
    bad=[
        (lambda: ls_discriminator_loss(_ONES.long(), _ONES, 0, 1), TypeError, "d_real must have a floating"),
        (lambda: ls_discriminator_loss(_ONES, _ONES.int(), 0, 1), TypeError, "d_fake must have a floating"),
        (lambda: ls_discriminator_loss([1.0], _ONES, 0, 1), TypeError, "d_real must be a torch.Tensor"),
        (lambda: ls_discriminator_loss(_ONES, torch.ones(3, device="meta"), 0, 1), ValueError, "d_fake is on meta"),
        (lambda: ls_discriminator_loss(torch.ones(0), _ONES, 0, 1), ValueError, "d_real and d_fake must not be"),
        (lambda: ls_discriminator_loss(_ONES, _ONES, "0", 1), TypeError, "a must be a real number"),
        (lambda: ls_discriminator_loss(_ONES, _ONES, 0, True), TypeError, "b must be a real number"),
    ],
)

LS_GENERATOR_CASE = OpCase(
    name="ls_generator_loss",
    op=GENERATOR,
    make=lambda shape, generator: [_normal(generator, *shape)],
    call=lambda inputs, backend: ls_generator_loss(*inputs, 0.5, backend=backend),
    shapes=[(1,), (37, 1), (3, 7, 11), (2053,)],
    strided_shape=(10, 3),
    op_args=lambda inputs: (inputs[0].float(), 0.5),
    differentiable=(0,),
    bad=[
        (lambda: ls_generator_loss(_ONES.bool(), 1), TypeError, "d_fake must have a floating"),
        (lambda: ls_generator_loss(torch.ones(2, 0), 1), ValueError, "d_fake must not be empty"),
        (lambda: ls_generator_loss(_ONES, None), TypeError, "c must be a real number"),
    ],
)

# --- covariance and the shifted moments -----------------------------------------------------------

COVARIANCE_CASE = OpCase(
    name="covariance",
    op=COVARIANCE,
    make=lambda shape, generator: [_normal(generator, *shape)],
    call=lambda inputs, backend: covariance(*inputs, backend=backend),
    # (B, N, d): the fewest rows, a prime d, two tiles of the Triton kernel (d > 32), unbatched
    shapes=[(1, 2, 1), (1, 5, 3), (2, 37, 33), (23, 11)],
    strided_shape=(13, 9),
    op_args=lambda inputs: (inputs[0].float().reshape(-1, *inputs[0].shape[-2:]),),
    differentiable=(0,),
    op_dtype=compute_dtype,
    bad=[
        (lambda: covariance([[1.0, 2.0]]), TypeError, "x must be a torch.Tensor"),
        (lambda: covariance(torch.zeros(3, 2, dtype=torch.int64)), TypeError, "x must have a floating"),
        (lambda: covariance(torch.zeros(3)), ValueError, r"x must have shape \[N, d\] or \[B, N, d\]"),
        (lambda: covariance(torch.zeros(1, 4)), ValueError, "x must have at least 2 rows"),
        (lambda: covariance(torch.zeros(3, 0)), ValueError, "x must have at least one feature"),
    ],
)

SHIFTED_MOMENTS_CASE = OpCase(
    name="shifted_moments",
    op=SHIFTED_MOMENTS,
    make=lambda shape, generator: [_normal(generator, *shape), _normal(generator, *shape[:-2], shape[-1])],
    call=lambda inputs, backend: shifted_moments(*inputs, backend=backend),
    # (B, N, d), with no rows at all (zeros out) and unbatched; shapes[1] is small for gradgradcheck
    shapes=[(1, 1, 1), (1, 6, 4), (2, 45, 33), (1, 0, 5), (19, 7)],
    strided_shape=(13, 9),
    op_args=lambda inputs: (
        inputs[0].float().reshape(-1, *inputs[0].shape[-2:]),
        inputs[1].float().reshape(-1, inputs[1].shape[-1]),
    ),  # fmt: skip
    differentiable=(0, 1),
    op_dtype=compute_dtype,
    bad=[
        (lambda: shifted_moments(torch.zeros(5, 4), torch.zeros(3)), ValueError, "shift must have shape"),
        (lambda: shifted_moments(torch.zeros(5, 4), [0.0] * 4), TypeError, "shift must be a torch.Tensor"),
        (lambda: shifted_moments(torch.zeros(5, 4), torch.zeros(4, device="meta")), ValueError, "shift is on meta"),
    ],
)

# --- Philox draws ---------------------------------------------------------------------------------


def _offsets(shape, generator):
    # Offsets around 2**32: the high word of the counter is exercised.
    count = int(torch.Size(shape).numel())
    return [torch.arange(count, dtype=torch.int64).view(shape) * 7919 + 2**32 - 3 * count]


_BAD_DRAWS = [
    (lambda draw: draw(torch.arange(3, dtype=torch.int32), 0), TypeError, "offsets must be an int64"),
    (lambda draw: draw([0, 1], 0), TypeError, "offsets must be a torch.Tensor"),
    (lambda draw: draw(torch.arange(3), -1), ValueError, r"seed must be in \[0, 2\*\*63 - 1\]"),
    (lambda draw: draw(torch.arange(3), 1.5), TypeError, "seed must be an int"),
]


def _draw_case(name, op, draw, normal):
    return OpCase(
        name=name,
        op=op,
        make=_offsets,
        call=lambda inputs, backend: draw(*inputs, SEED, backend=backend),
        shapes=[(1,), (1031,), (3, 7), (0,)],
        strided_shape=(5, 4),
        op_args=lambda inputs: (inputs[0], SEED),
        dtypes=(torch.int64,),
        normal_draws=normal,
        bad=[(lambda bad=bad: bad(draw), error, match) for bad, error, match in _BAD_DRAWS],
    )


CASES = [
    REPARAMETERIZE_CASE,
    CORRUPT_ENCODE_CASE,
    LS_DISCRIMINATOR_CASE,
    LS_GENERATOR_CASE,
    COVARIANCE_CASE,
    SHIFTED_MOMENTS_CASE,
    _draw_case("philox_uniform", UNIFORM, philox_uniform, normal=False),
    _draw_case("philox_normal", NORMAL, philox_normal, normal=True),
]
