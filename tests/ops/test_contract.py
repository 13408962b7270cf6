"""The op contract, for every registered op (``fastgen.ops.registry()``, each with its cases:
fastgen/ops/_cases.py) on every backend and dtype: values and
gradients against the reference, double backward or its refusal, opcheck on every custom op,
torch.compile(fullgraph=True), edge shapes, strided inputs and bad inputs.

Tolerances, one table for every op: a backend's result is compared with the reference run on
the same inputs in the same dtype (``backend="torch"``):
- float64: 1e-10 relative and absolute; the kernels compute in float64, and differ from the
  reference only in the order of sums of at most a few thousand terms of size O(1) (measured:
  6e-15 of 1 + |value|).
- float32: 2e-5 relative and absolute; both sides compute in float32 and sum in another order
  (blocked, tree or BLAS): a few ulp of the partial sums of at most a few thousand O(1) terms
  (measured on cpp and triton: 4.3e-6 of 1 + |value|).
- int64 inputs (the Philox draws' offsets): 0, plus the op's ``atol``; nothing is summed, so the
  float32 numbers they give are bit-identical (uniforms) or differ by the math library's ulp
  (normals).
- Each op adds its ``atol`` (stated with its cases) to every row: ops that draw Philox normals,
  since eps is float32 on every backend and Box-Muller's log/cos differ by an ulp between math
  libraries.
- float16/bfloat16 (flash-attention's rule): against the reference in float64 on the same
  (rounded) inputs, the backend's error is at most twice the reference's own error in that dtype,
  plus one ulp of the largest value for the final rounding of the output.
"""

from __future__ import annotations

import pytest
import torch

from fastgen.ops import registry
from tests.conftest import device_for

CASES = [op.cases for op in registry()]
TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-5, torch.int64: 0.0}
HALF = (torch.float16, torch.bfloat16)


@pytest.fixture(params=CASES, ids=str)
def case(request):
    return request.param


@pytest.fixture
def op_backend(case, backend_name):
    """``backend_name``, skipped where the op has no kernels on that backend: the statistics ops
    (covariance, shifted_moments) have cpp and Triton kernels but no CUDA C++ ones."""
    if backend_name not in case.op.implementations:
        pytest.skip(f"{case.op.name} has no {backend_name} implementation")
    return backend_name


def _prepared(inputs, case, dtype, device, requires_grad=True):
    """The inputs cast to dtype (floating ones) on device, the differentiable ones as leaves."""
    out = []
    for index, tensor in enumerate(inputs):
        if tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensor = tensor.to(device)
        if requires_grad and index in case.differentiable:
            tensor = tensor.detach().requires_grad_()
        out.append(tensor)
    return out


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def _weights(outputs, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(o.shape, generator=generator, dtype=torch.float64).to(o) for o in outputs]


def _values_and_grads(case, inputs, backend):
    """The outputs and the gradients of sum_k <out_k, w_k> in every differentiable input, on the CPU."""
    outputs = _as_tuple(case.call(inputs, backend))
    leaves = [inputs[i] for i in case.differentiable]
    grads = []
    if leaves:
        grads = torch.autograd.grad(outputs, leaves, _weights(outputs), allow_unused=True)
        grads = [torch.zeros_like(leaf) if g is None else g for g, leaf in zip(grads, leaves, strict=True)]
    return [t.detach().cpu() for t in (*outputs, *grads)]


def _taken(case, backend, dtype) -> bool:
    """Whether ``backend``'s kernels take what the public function hands them for ``dtype`` inputs."""
    capabilities = case.op.capabilities.get(backend)
    return capabilities is None or case.op_dtype(dtype) in capabilities.compute


def _assert_close(case, got, want, dtype):
    """The float32, float64 and int64 rows of the table (int64 offsets give float32 draws)."""
    tolerance = TOLERANCE[dtype]
    atol = tolerance + case.atol
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.shape == w.shape and g.dtype == w.dtype, f"result {index}: {g.shape}/{g.dtype} vs {w.shape}/{w.dtype}"
        torch.testing.assert_close(g, w, rtol=tolerance, atol=atol, msg=lambda m, i=index: f"result {i}: {m}")


def _assert_within_twice_reference_error(case, shape, backend, dtype):
    generator = torch.Generator().manual_seed(1)
    inputs = case.make(shape, generator)
    rounded = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
    exact = _values_and_grads(case, _prepared(rounded, case, torch.float64, "cpu"), "torch")
    low = _values_and_grads(case, _prepared(rounded, case, dtype, "cpu"), "torch")
    got = _values_and_grads(case, _prepared(rounded, case, dtype, device_for(backend)), backend)
    ulp = torch.finfo(dtype).eps
    for index, (g, r, e) in enumerate(zip(got, low, exact, strict=True)):
        assert g.dtype == r.dtype and g.shape == e.shape, f"result {index}"
        if not e.numel():
            continue
        error = (g.double() - e).abs().max().item()
        reference_error = (r.double() - e).abs().max().item()
        bound = 2 * reference_error + ulp * e.abs().max().item()
        assert error <= bound, f"result {index}: error {error:.3g} > 2 x reference error {reference_error:.3g} + 1 ulp"


@pytest.mark.parametrize(
    ("case", "dtype"), [pytest.param(c, d, id=f"{c}-{str(d).replace('torch.', '')}") for c in CASES for d in c.dtypes]
)
def test_values_and_gradients(case, op_backend, dtype):
    """Every shape (a single element, primes, not a block multiple, empty) against the reference,
    or the backend's refusal of the dtype."""
    device = device_for(op_backend)
    if not _taken(case, op_backend, dtype):
        inputs = _prepared(case.make(case.shapes[0], torch.Generator()), case, dtype, device)
        with pytest.raises(RuntimeError, match=f"backend '{op_backend}' cannot run these inputs: {op_backend} takes"):
            case.call(inputs, op_backend)
        return
    for shape in case.shapes:
        if dtype in HALF:
            _assert_within_twice_reference_error(case, shape, op_backend, dtype)
            continue
        inputs = case.make(shape, torch.Generator().manual_seed(0))
        got = _values_and_grads(case, _prepared(inputs, case, dtype, device), op_backend)
        want = _values_and_grads(case, _prepared(inputs, case, dtype, "cpu"), "torch")
        _assert_close(case, got, want, dtype)


def _strided(tensor: torch.Tensor) -> torch.Tensor:
    """The same values in a non-contiguous layout."""
    return torch.stack([tensor, tensor], dim=-1)[..., 0]


def test_strided_inputs(case, op_backend):
    dtype = torch.int64 if torch.int64 in case.dtypes else torch.float32
    inputs = case.make(case.strided_shape, torch.Generator().manual_seed(2))
    strided = [_strided(t) for t in _prepared(inputs, case, dtype, device_for(op_backend), requires_grad=False)]
    assert not any(t.is_contiguous() for t in strided)
    strided = [t.requires_grad_() if i in case.differentiable else t for i, t in enumerate(strided)]
    got = _values_and_grads(case, strided, op_backend)
    want = _values_and_grads(case, _prepared(inputs, case, dtype, "cpu"), "torch")
    _assert_close(case, got, want, dtype)


def _grad_sum(case, inputs, backend):
    """sum_k <out_k, w_k> differentiated once, with a graph: the input of a second derivative."""
    outputs = _as_tuple(case.call(inputs, backend))
    leaves = [inputs[i] for i in case.differentiable]
    return leaves, torch.autograd.grad(outputs, leaves, _weights(outputs), create_graph=True)


def test_double_backward(case, op_backend):
    """Second derivatives equal the reference's (gradgradcheck in float64, or against the reference
    in float32 where the backend takes no float64), or are refused with an error naming the op."""
    if not case.differentiable:
        pytest.skip(f"{case} has no gradient")
    device = device_for(op_backend)
    inputs = case.make(case.shapes[1], torch.Generator().manual_seed(3))
    if op_backend != "torch" and not case.op.description.double_backward:
        leaves, grads = _grad_sum(case, _prepared(inputs, case, torch.float32, device), op_backend)
        with pytest.raises(RuntimeError, match=f"fastgen::{case.name} does not support double backward"):
            torch.autograd.grad(sum(g.sum() for g in grads), leaves)
        return
    if _taken(case, op_backend, torch.float64):
        leaves = _prepared(inputs, case, torch.float64, device)
        wrapped = _differentiable_call(case, leaves, op_backend)
        assert torch.autograd.gradgradcheck(wrapped, [leaves[i] for i in case.differentiable])
        return
    got = _second_derivatives(case, inputs, op_backend, device)
    want = _second_derivatives(case, inputs, "torch", "cpu")
    _assert_close(case, got, want, torch.float32)


def _differentiable_call(case, inputs, backend):
    def call(*leaves):
        full = list(inputs)
        for index, leaf in zip(case.differentiable, leaves, strict=True):
            full[index] = leaf
        return case.call(full, backend)

    return call


def _second_derivatives(case, inputs, backend, device):
    leaves, grads = _grad_sum(case, _prepared(inputs, case, torch.float32, device), backend)
    directions = _weights(grads, seed=1)
    second = torch.autograd.grad(grads, leaves, directions, allow_unused=True)
    return [torch.zeros_like(leaf) if s is None else s.detach().cpu() for s, leaf in zip(second, leaves, strict=True)]


def test_gradcheck_float64(case, op_backend):
    if not case.differentiable:
        pytest.skip(f"{case} has no gradient")
    if not _taken(case, op_backend, torch.float64):
        pytest.skip(f"{op_backend} takes no float64 for {case}")
    inputs = case.make(case.shapes[1], torch.Generator().manual_seed(4))
    inputs = _prepared(inputs, case, torch.float64, device_for(op_backend))
    assert torch.autograd.gradcheck(
        _differentiable_call(case, inputs, op_backend), [inputs[i] for i in case.differentiable]
    )


def _interpreted(backend, device) -> bool:
    """The Triton interpreter runs kernels on real memory: fake tensors and compilation need a GPU."""
    return backend == "triton" and device.type == "cpu"


def test_opcheck(case, op_backend):
    """Schema, autograd registration, fake (meta) implementation and AOT dispatch of every custom op."""
    if op_backend == "torch":
        pytest.skip("the reference is plain PyTorch, not a custom op")
    device = device_for(op_backend)
    checks = ("test_schema", "test_autograd_registration")
    if not _interpreted(op_backend, device):
        checks += ("test_faketensor", "test_aot_dispatch_dynamic")
    inputs = case.make(case.shapes[1], torch.Generator().manual_seed(5))
    args = [a.to(device) if isinstance(a, torch.Tensor) else a for a in case.op_args(inputs)]
    args = [a.requires_grad_() if i in case.differentiable else a for i, a in enumerate(args)]
    torch.library.opcheck(case.op.custom_ops[op_backend], tuple(args), test_utils=checks)
    if case.backward_op_args is not None:
        args = [a.to(device) if isinstance(a, torch.Tensor) else a for a in case.backward_op_args(inputs)]
        torch.library.opcheck(case.op.backward_ops[op_backend], tuple(args), test_utils=checks)


def test_torch_compile_fullgraph(case, op_backend):
    """The public function, dispatch included, traces into one graph with the op's fake and autograd."""
    if op_backend == "torch":
        pytest.skip("the reference is plain PyTorch; the compiled backends' rows trace the dispatch")
    device = device_for(op_backend)
    if _interpreted(op_backend, device):
        pytest.skip("the Triton interpreter cannot trace fake tensors; compiled on a GPU")
    inputs = case.make(case.shapes[1], torch.Generator().manual_seed(6))
    torch._dynamo.reset()  # one code object serves every case: start each from a fresh cache
    compiled = torch.compile(lambda *args: case.call(list(args), op_backend), fullgraph=True, backend="aot_eager")

    def run(fn):
        leaves = _prepared(inputs, case, torch.float32, device)
        return _values_and_grads(_Compiled(case, fn), leaves, None)

    _assert_close(case, run(compiled), run(lambda *args: case.call(list(args), op_backend)), torch.float32)


class _Compiled:
    """A case whose call is ``fn`` (compiled or not), for _values_and_grads."""

    def __init__(self, case, fn):
        self.differentiable = case.differentiable
        self.fn = fn

    def call(self, inputs, backend):
        return self.fn(*inputs)


def _bad_calls():
    return [
        pytest.param(call, error, match, id=f"{case}-{index}")
        for case in CASES
        for index, (call, error, match) in enumerate(case.bad)
    ]


@pytest.mark.parametrize(("call", "error", "match"), _bad_calls())
def test_bad_inputs_raise_one_line_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match) as raised:
        call()
    assert "\n" not in str(raised.value)
