"""fastgen.ops.corrupt_encode on every available backend against the pure-PyTorch reference."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before fastgen imports triton

import pytest

from fastgen import backends
from fastgen.ops import corrupt_encode, last_seed
from fastgen.ops.reference.corrupt_encode import corrupt_encode as reference
from fastgen.ops.reference.corrupt_encode import keep_mask

COMPILED = [name for name in ("cpp", "cuda", "triton") if name in backends.available_backends()]
# float32 against the float32 reference: both run a float32 GEMM (BLAS, cuBLAS or tl.dot in
# IEEE mode) over at most a few hundred terms of size O(1); the orders of summation differ,
# so results agree to a few ulp of the largest partial sum.
TOLERANCE = {"atol": 2e-5, "rtol": 2e-5}
SHAPES = [(1, 1, 1), (1, 13, 7), (17, 31, 5), (37, 50, 20)]


def device_of(backend: str) -> str:
    if backend == "cpp":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def make_inputs(n, n_visible, n_hidden, dtype=torch.float32, device="cpu", seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_visible, generator=generator)
    weight = torch.randn(n_visible, n_hidden, generator=generator) / max(n_visible, 1) ** 0.5
    bias = torch.randn(n_hidden, generator=generator)
    grad_h = torch.randn(n, n_hidden, generator=generator)
    return [t.to(device=device, dtype=dtype) for t in (x, weight, bias, grad_h)]


def value_and_grads(fn, x, weight, bias, grad_h):
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    h = fn(*leaves)
    grads = torch.autograd.grad(h, leaves, grad_h)
    return (h.detach(), *grads)


def run(backend, corruption, seed):
    def fn(x, weight, bias):
        return corrupt_encode(x, weight, bias, corruption=corruption, seed=seed, backend=backend)

    return fn


def run_reference(corruption, seed):
    return lambda x, weight, bias: reference(x, weight, bias, corruption, seed)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("corruption", [0.0, 0.3, 0.9])
def test_float32_values_and_grads_match_reference(backend, shape, corruption):
    inputs = make_inputs(*shape, device=device_of(backend))
    got = value_and_grads(run(backend, corruption, 1234), *inputs)
    want = value_and_grads(run_reference(corruption, 1234), *inputs)
    for name, g, w in zip(("h", "grad_x", "grad_weight", "grad_bias"), got, want, strict=True):
        torch.testing.assert_close(g, w, **TOLERANCE, msg=lambda m, name=name: f"{name}: {m}")


def test_cpp_crosses_every_tile_boundary():
    # 600 rows: two row chunks of the grad_W accumulation (512) and ten row tiles (64);
    # 301 visible units: five column tiles (64) and two Philox blocks (256) per row.
    inputs = make_inputs(600, 301, 9, seed=3)
    got = value_and_grads(run("cpp", 0.25, 99), *inputs)
    want = value_and_grads(run_reference(0.25, 99), *inputs)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=5e-5, rtol=5e-5)


def naive(corruption, seed):
    """The reference formula evaluated entirely in the inputs' dtype (no float32 upcast)."""
    return lambda x, weight, bias: torch.sigmoid((x * keep_mask(x, corruption, seed)) @ weight + bias)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_error_at_most_twice_the_naive_error(backend, dtype):
    # flash-attention's rule, as in test_reparameterize: against a float64 evaluation, the
    # kernel's error is at most twice that of the formula evaluated naively in the dtype, plus
    # one ulp of the largest value for the final rounding. The kernels' dpre uses the saved h,
    # rounded to the dtype, as the naive autograd does.
    device = device_of(backend)
    inputs = make_inputs(23, 41, 19, dtype=dtype, seed=5)
    exact = value_and_grads(naive(0.3, 7), *[t.double() for t in inputs])
    low = value_and_grads(naive(0.3, 7), *inputs)
    got = value_and_grads(run(backend, 0.3, 7), *[t.to(device) for t in inputs])
    ulp = torch.finfo(dtype).eps
    for name, g, n, e in zip(("h", "grad_x", "grad_weight", "grad_bias"), got, low, exact, strict=True):
        assert g.dtype == dtype
        err, naive_err = (g.cpu().double() - e).abs().max(), (n.double() - e).abs().max()
        bound = 2 * naive_err + ulp * e.abs().max()
        assert err <= bound, f"{name}: error {err:.3g} > 2 x naive error {naive_err:.3g} + 1 ulp"


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_float64_gradcheck_cpp():
    x, weight, bias, _ = make_inputs(5, 7, 3, dtype=torch.float64)
    leaves = [t.requires_grad_() for t in (x, weight, bias)]
    assert torch.autograd.gradcheck(run("cpp", 0.4, 11), leaves)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("corruption", [0.5, 0.95])
def test_mask_is_bit_identical_to_the_reference(backend, corruption):
    # weight = identity, bias = 0, x = 1: h = sigmoid(1) where an input is kept, 1/2 where it is
    # dropped; grad_x is nonzero exactly where kept. Both must show the reference's mask.
    n, d = 19, 37
    device = device_of(backend)
    x, weight, bias = torch.ones(n, d), torch.eye(d), torch.zeros(d)
    h, grad_x, _, _ = value_and_grads(run(backend, corruption, 2024), *(t.to(device) for t in (x, weight, bias)),
                                      torch.ones(n, d, device=device))  # fmt: skip
    keep = keep_mask(x, corruption, 2024).to(device)
    assert torch.equal(h > 0.6, keep)
    assert torch.equal(grad_x != 0, keep)


@pytest.mark.parametrize("backend", COMPILED)
def test_strided_inputs(backend):
    device = device_of(backend)
    x, weight, bias, grad_h = make_inputs(11, 17, 13, device=device)
    x_strided = x.t().contiguous().t()  # column-major
    weight_strided = weight.t().contiguous().t()
    bias_strided = torch.stack([bias, bias], dim=1)[:, 0]
    got = value_and_grads(run(backend, 0.3, 5), x_strided, weight_strided, bias_strided, grad_h)
    want = value_and_grads(run_reference(0.3, 5), x, weight, bias, grad_h)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, **TOLERANCE)


def test_empty_batch():
    for backend in COMPILED:
        x, weight, bias, grad_h = make_inputs(0, 6, 4, device=device_of(backend))
        h, grad_x, grad_weight, grad_bias = value_and_grads(run(backend, 0.3, 1), x, weight, bias, grad_h)
        assert h.shape == (0, 4) and grad_x.shape == (0, 6)
        assert torch.equal(grad_weight, torch.zeros_like(grad_weight))
        assert torch.equal(grad_bias, torch.zeros_like(grad_bias))


def test_seed_none_is_drawn_recorded_and_replayable():
    x, weight, bias, _ = make_inputs(4, 9, 3)
    torch.manual_seed(7)
    first = corrupt_encode(x, weight, bias, corruption=0.5)
    seed = last_seed()
    torch.manual_seed(7)
    assert torch.equal(corrupt_encode(x, weight, bias, corruption=0.5), first)
    assert torch.equal(corrupt_encode(x, weight, bias, corruption=0.5, seed=seed), first)


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_opcheck_compiled_ops():
    x, weight, bias, grad_h = make_inputs(6, 10, 4)
    h = torch.ops.fastgen.corrupt_encode(x, weight, bias, 0.3, 3)
    torch.library.opcheck(torch.ops.fastgen.corrupt_encode.default, (x.requires_grad_(), weight, bias, 0.3, 3))
    torch.library.opcheck(torch.ops.fastgen._corrupt_encode_backward.default, (grad_h, h, x.detach(), weight, 0.3, 3))


@pytest.mark.skipif("triton" not in COMPILED, reason="triton cannot run here")
def test_opcheck_triton_ops():
    from fastgen.ops.triton.corrupt_encode import corrupt_encode_backward_triton, corrupt_encode_triton

    device = device_of("triton")
    x, weight, bias, grad_h = make_inputs(6, 10, 4, device=device)
    h = corrupt_encode_triton(x, weight, bias, 0.3, 3)
    # The interpreter runs kernels on real CPU memory, so fake-tensor tracing needs a GPU.
    checks = ("test_schema", "test_autograd_registration")
    if torch.cuda.is_available():
        checks += ("test_faketensor", "test_aot_dispatch_dynamic")
    torch.library.opcheck(corrupt_encode_triton, (x.requires_grad_(), weight, bias, 0.3, 3), test_utils=checks)
    args = (grad_h, h, x.detach(), weight, 0.3, 3)
    torch.library.opcheck(corrupt_encode_backward_triton, args, test_utils=checks)


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_torch_compile_fullgraph_cpp():
    x, weight, bias, grad_h = make_inputs(9, 12, 5)

    def step(x, weight, bias):
        return corrupt_encode(x, weight, bias, corruption=0.3, seed=21, backend="cpp")

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got = value_and_grads(compiled, x, weight, bias, grad_h)
    want = value_and_grads(run_reference(0.3, 21), x, weight, bias, grad_h)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, **TOLERANCE)


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_double_backward_is_refused():
    x, weight, bias, _ = make_inputs(3, 4, 2)
    weight.requires_grad_()
    h = corrupt_encode(x, weight, bias, corruption=0.2, seed=1, backend="cpp")
    (grad_weight,) = torch.autograd.grad(h.sum(), weight, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        grad_weight.sum().backward()


@pytest.mark.parametrize(
    ("change", "error", "names"),
    [
        ({"corruption": 1.0}, ValueError, "corruption"),
        ({"corruption": -0.1}, ValueError, "corruption"),
        ({"corruption": float("nan")}, ValueError, "corruption"),
        ({"x": torch.ones(3, 5)}, ValueError, "weight"),
        ({"x": torch.ones(3, 4, 1)}, ValueError, "x"),
        ({"weight": torch.ones(4, 2)}, ValueError, "bias"),
        ({"x": torch.ones(3, 4, dtype=torch.int64)}, TypeError, "x"),
        ({"weight": torch.ones(4, 2, dtype=torch.int32)}, TypeError, "weight"),
        ({"x": [[1.0] * 4]}, TypeError, "x"),
        ({"weight": torch.ones(4, 3, device="meta")}, ValueError, "weight"),
        ({"bias": torch.ones(3, device="meta")}, ValueError, "bias"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(change, error, names):
    args = {"x": torch.ones(3, 4), "weight": torch.ones(4, 3), "bias": torch.ones(3), "corruption": 0.3}
    args.update(change)
    with pytest.raises(error, match=names):
        corrupt_encode(args["x"], args["weight"], args["bias"], corruption=args["corruption"], seed=0)


def test_mixed_dtypes_run_on_the_reference_and_refuse_compiled_backends():
    x, weight, bias, _ = make_inputs(3, 4, 2)
    got = corrupt_encode(x, weight.double(), bias, corruption=0.3, seed=2)
    torch.testing.assert_close(got, reference(x, weight.double(), bias, 0.3, 2))
    for backend in COMPILED:
        with pytest.raises(RuntimeError, match="one dtype"):
            corrupt_encode(x, weight.double(), bias, corruption=0.3, seed=2, backend=backend)
