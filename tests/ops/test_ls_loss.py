"""fastgen.ops.ls_discriminator_loss / ls_generator_loss on every available backend against the
pure-PyTorch reference (Mao et al., ICCV 2017, eq. 2)."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before fastgen imports triton

import pytest

from fastgen import backends
from fastgen.ops import ls_discriminator_loss, ls_generator_loss
from fastgen.ops.reference import ls_loss as reference

COMPILED = [name for name in ("cpp", "cuda", "triton") if name in backends.available_backends()]
# float32: the loss is a mean of O(1) squares summed in another order (double on the CPU,
# float32 tree sums in the kernels and in torch.mean): relative 1e-6; the gradients are one
# subtraction and one scaling each, equal to the reference's up to an ulp.
TOLERANCE = {"atol": 1e-6, "rtol": 2e-6}
SHAPES = [((1,), (1,)), ((37, 1), (5,)), ((64,), (64, 1)), ((3, 7, 11), (1031,)), ((2053,), (1,))]
LABELS = [(-1.0, 1.0, 0.0), (0.0, 1.0, 1.0)]


def device_of(backend: str) -> str:
    if backend == "cpp":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def scores(shape, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed + sum(shape))
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)


def losses_and_grads(backend, d_real, d_fake, a, b, c):
    """(L_D, dL_D/d_real, dL_D/d_fake, L_G, dL_G/d_fake) with an upstream gradient of 3."""
    real, fake = d_real.detach().clone().requires_grad_(), d_fake.detach().clone().requires_grad_()
    if backend == "reference":
        loss_d, loss_g = reference.ls_discriminator_loss(real, fake, a, b), reference.ls_generator_loss(fake, c)
    else:
        loss_d = ls_discriminator_loss(real, fake, a, b, backend=backend)
        loss_g = ls_generator_loss(fake, c, backend=backend)
    grad_real, grad_fake_d = torch.autograd.grad(3 * loss_d, (real, fake))
    (grad_fake_g,) = torch.autograd.grad(3 * loss_g, fake)
    return [t.detach().cpu() for t in (loss_d, grad_real, grad_fake_d, loss_g, grad_fake_g)]


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("labels", LABELS)
def test_float32_losses_and_grads_match_reference(backend, shapes, labels):
    device = device_of(backend)
    d_real, d_fake = scores(shapes[0]), scores(shapes[1], seed=1)
    got = losses_and_grads(backend, d_real.to(device), d_fake.to(device), *labels)
    want = losses_and_grads("reference", d_real, d_fake, *labels)
    for name, g, w in zip(("L_D", "grad_real", "grad_fake(D)", "L_G", "grad_fake(G)"), got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        torch.testing.assert_close(g, w, **TOLERANCE, msg=lambda m, name=name: f"{name}: {m}")


def naive(d_real, d_fake, a, b, c):
    """The losses evaluated entirely in the inputs' dtype (no float32 upcast)."""
    return 0.5 * ((d_real - b) ** 2).mean() + 0.5 * ((d_fake - a) ** 2).mean(), 0.5 * ((d_fake - c) ** 2).mean()


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_error_at_most_twice_the_naive_error(backend, dtype):
    # flash-attention's rule: against float64, at most twice the error of the naive evaluation in
    # the dtype, plus one ulp of the largest value for the final rounding.
    device = device_of(backend)
    d_real, d_fake = scores((301,), dtype), scores((77, 1), dtype, seed=1)
    loss_d, loss_g = (
        ls_discriminator_loss(d_real.to(device), d_fake.to(device), -1, 1, backend=backend),
        (ls_generator_loss(d_fake.to(device), 0, backend=backend)),
    )
    exact = naive(d_real.double(), d_fake.double(), -1, 1, 0)
    low = naive(d_real, d_fake, -1, 1, 0)
    ulp = torch.finfo(dtype).eps
    for got, n, e in zip((loss_d, loss_g), low, exact, strict=True):
        assert got.dtype == dtype
        assert (got.cpu().double() - e).abs() <= 2 * (n.double() - e).abs() + ulp * e.abs()


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_float64_gradcheck_cpp():
    d_real, d_fake = scores((6, 1), torch.float64).requires_grad_(), scores((4,), torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda r, f: ls_discriminator_loss(r, f, -1, 1, backend="cpp"), (d_real, d_fake))
    assert torch.autograd.gradcheck(lambda f: ls_generator_loss(f, 0.5, backend="cpp"), (d_fake,))


@pytest.mark.parametrize("backend", COMPILED)
def test_strided_inputs(backend):
    device = device_of(backend)
    d_real = scores((8, 6)).to(device)
    d_fake = scores((10, 2), seed=1).to(device)
    got = ls_discriminator_loss(d_real.t(), d_fake[:, 1], -1, 1, backend=backend)
    want = reference.ls_discriminator_loss(d_real.t().cpu(), d_fake[:, 1].cpu(), -1.0, 1.0)
    torch.testing.assert_close(got.cpu(), want, **TOLERANCE)
    got_g = ls_generator_loss(d_fake[::3, 0], 1, backend=backend)
    torch.testing.assert_close(got_g.cpu(), reference.ls_generator_loss(d_fake[::3, 0].cpu(), 1.0), **TOLERANCE)


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_opcheck_compiled_ops():
    d_real, d_fake = scores((5, 1)).requires_grad_(), scores((3,)).requires_grad_()
    torch.library.opcheck(torch.ops.fastgen.ls_discriminator_loss.default, (d_real, d_fake, -1.0, 1.0))
    torch.library.opcheck(torch.ops.fastgen.ls_generator_loss.default, (d_fake, 0.0))


@pytest.mark.skipif("triton" not in COMPILED, reason="triton cannot run here")
def test_opcheck_triton_ops():
    from fastgen.ops.triton.ls_loss import ls_discriminator_loss_triton, ls_generator_loss_triton

    device = device_of("triton")
    d_real, d_fake = scores((5, 1)).to(device).requires_grad_(), scores((3,)).to(device).requires_grad_()
    # The interpreter runs kernels on real CPU memory, so fake-tensor tracing needs a GPU.
    checks = ("test_schema", "test_autograd_registration")
    if torch.cuda.is_available():
        checks += ("test_faketensor", "test_aot_dispatch_dynamic")
    torch.library.opcheck(ls_discriminator_loss_triton, (d_real, d_fake, -1.0, 1.0), test_utils=checks)
    torch.library.opcheck(ls_generator_loss_triton, (d_fake, 0.0), test_utils=checks)


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_torch_compile_fullgraph_cpp():
    d_real, d_fake = scores((16, 1)).requires_grad_(), scores((16, 1), seed=1).requires_grad_()

    @torch.compile(fullgraph=True, backend="aot_eager")
    def total(r, f):
        return ls_discriminator_loss(r, f, 0, 1, backend="cpp") + ls_generator_loss(f, 1, backend="cpp")

    got = total(d_real, d_fake)
    got_grads = torch.autograd.grad(got, (d_real, d_fake))
    want = reference.ls_discriminator_loss(d_real, d_fake, 0.0, 1.0) + reference.ls_generator_loss(d_fake, 1.0)
    want_grads = torch.autograd.grad(want, (d_real, d_fake))
    torch.testing.assert_close(got, want, **TOLERANCE)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, **TOLERANCE)


@pytest.mark.skipif("cpp" not in COMPILED, reason="fastgen._C is not built")
def test_gradient_outputs_do_not_leak_into_the_public_result():
    d_fake = scores((4,)).requires_grad_()
    loss = ls_generator_loss(d_fake, 0, backend="cpp")
    assert loss.shape == () and loss.requires_grad


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        (lambda: ls_discriminator_loss(torch.ones(3, dtype=torch.int64), torch.ones(3), 0, 1), TypeError, "d_real"),
        (lambda: ls_discriminator_loss(torch.ones(3), torch.ones(3, dtype=torch.int32), 0, 1), TypeError, "d_fake"),
        (lambda: ls_discriminator_loss([1.0], torch.ones(3), 0, 1), TypeError, "d_real"),
        (lambda: ls_discriminator_loss(torch.ones(3), torch.ones(3, device="meta"), 0, 1), ValueError, "d_fake"),
        (lambda: ls_discriminator_loss(torch.ones(0), torch.ones(3), 0, 1), ValueError, "empty"),
        (lambda: ls_discriminator_loss(torch.ones(3), torch.ones(3), "0", 1), TypeError, "a"),
        (lambda: ls_discriminator_loss(torch.ones(3), torch.ones(3), 0, True), TypeError, "b"),
        (lambda: ls_generator_loss(torch.ones(3, dtype=torch.bool), 1), TypeError, "d_fake"),
        (lambda: ls_generator_loss(torch.ones(2, 0), 1), ValueError, "d_fake"),
        (lambda: ls_generator_loss(torch.ones(3), None), TypeError, "c"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, error, names):
    with pytest.raises(error, match=names):
        call()


def test_mixed_dtypes_run_on_the_reference_and_refuse_compiled_backends():
    d_real, d_fake = scores((5,)), scores((5,), torch.float64, seed=1)
    got = ls_discriminator_loss(d_real, d_fake, -1, 1)
    torch.testing.assert_close(got, reference.ls_discriminator_loss(d_real, d_fake, -1.0, 1.0))
    for backend in COMPILED:
        with pytest.raises(RuntimeError, match="one dtype"):
            ls_discriminator_loss(d_real, d_fake, -1, 1, backend=backend)
