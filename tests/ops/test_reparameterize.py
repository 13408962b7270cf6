"""fastgen.ops.reparameterize on every backend against the reference.

Tolerances (float32): z differs from the reference only through eps, whose Box-Muller
log/cos may differ by a few ulp between math libraries (|eps| < 6: 4 ulp of 6 ~ 3e-6, times
std); kl is a float32 sum of d terms accumulated in a different order: relative 1e-5.
float16/bfloat16 follow flash-attention's rule: the kernel's error against a float64
reference is at most twice that of the reference computed naively in that dtype (plus one ulp
of the output for the final rounding, since both are rounded to that dtype).
"""

import pytest
import torch

import fastgen
from fastgen.ops import reparameterize
from fastgen.ops.reference.reparameterize import noise
from fastgen.ops.reference.reparameterize import reparameterize as reference
from tests.conftest import device_for

SHAPES = [(1, 1), (7, 13), (3, 5, 37), (2, 1031), (64, 32)]
SEED = 1234


def _inputs(shape, dtype=torch.float32, device="cpu", requires_grad=True):
    gen = torch.Generator().manual_seed(sum(shape))
    mu = torch.randn(shape, generator=gen, dtype=torch.float64)
    logvar = 0.5 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return [t.to(dtype).to(device).requires_grad_(requires_grad) for t in (mu, logvar)]


def _run(mu, logvar, backend, seed=SEED, eps=None, weights=None):
    """z, kl and the grads of mu and logvar for loss = <z, w_z> + <kl, w_kl>."""
    z, kl = reparameterize(mu, logvar, seed=seed, eps=eps, backend=backend)
    gen = torch.Generator().manual_seed(0)
    w_z = torch.randn(z.shape, generator=gen).to(z)
    w_kl = torch.randn(kl.shape, generator=gen).to(kl)
    grad_mu, grad_logvar = torch.autograd.grad((z * w_z).sum() + (kl * w_kl).sum(), (mu, logvar))
    return [t.detach().cpu() for t in (z, kl, grad_mu, grad_logvar)]


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference_float32(backend_name, shape):
    device = device_for(backend_name)
    got = _run(*_inputs(shape, device=device), backend_name)
    want = _run(*_inputs(shape), "torch")
    d = shape[-1]
    for name, g, w in zip(["z", "kl", "grad_mu", "grad_logvar"], got, want, strict=True):
        atol = 3e-5 * (d**0.5 if name == "kl" else 1)
        torch.testing.assert_close(g, w, rtol=1e-5, atol=atol, msg=lambda m, name=name: f"{name}: {m}")


def _naive(mu, logvar, eps):
    """The reference formula evaluated entirely in the inputs' dtype (no float32 upcast)."""
    z = mu + torch.exp(0.5 * logvar) * eps.to(mu.dtype)
    kl = -0.5 * torch.sum(1.0 + logvar - mu * mu - torch.exp(logvar), dim=-1)
    return z, kl


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", [(7, 13), (16, 257)])
def test_half_precision_within_twice_reference_error(backend_name, dtype, shape):
    device = device_for(backend_name)
    mu, logvar = _inputs(shape, dtype=dtype, requires_grad=False)
    eps = noise(mu, SEED)
    exact_z, exact_kl = _naive(mu.double(), logvar.double(), eps.double())
    naive_z, naive_kl = _naive(mu, logvar, eps)
    z, kl = reparameterize(mu.to(device), logvar.to(device), seed=SEED, backend=backend_name)
    ulp = torch.finfo(dtype).eps
    for got, naive, exact in [(z, naive_z, exact_z), (kl, naive_kl, exact_kl)]:
        got_err = (got.cpu().double() - exact).abs().max().item()
        naive_err = (naive.double() - exact).abs().max().item()
        assert got_err <= 2 * naive_err + ulp * exact.abs().max().item()


def test_given_eps_is_used_exactly(backend_name):
    device = device_for(backend_name)
    mu, logvar = _inputs((5, 9), device=device, requires_grad=False)
    eps = torch.randn(5, 9, device=device)
    z, _ = reparameterize(mu, logvar, eps=eps, backend=backend_name)
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * eps, rtol=1e-6, atol=1e-6)


def test_eps_is_the_philox_stream(backend_name):
    """With mu = 0 and logvar = 0, z is eps itself: Philox normal at the element offsets."""
    device = device_for(backend_name)
    zeros = torch.zeros(4, 33, device=device)
    z, kl = reparameterize(zeros, zeros, seed=99, backend=backend_name)
    expected = fastgen.ops.philox_normal(torch.arange(4 * 33).view(4, 33), 99, backend="torch")
    torch.testing.assert_close(z.cpu(), expected, rtol=0, atol=4 * 6 * 2**-23)
    assert torch.equal(kl.cpu(), torch.zeros(4))


def test_gradient_of_one_output_only(backend_name):
    device = device_for(backend_name)
    mu, logvar = _inputs((3, 8), device=device)
    _, kl = reparameterize(mu, logvar, seed=5, backend=backend_name)
    grad_mu, grad_logvar = torch.autograd.grad(kl.sum(), (mu, logvar))
    torch.testing.assert_close(grad_mu, mu.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad_logvar, 0.5 * (logvar.detach().exp() - 1), rtol=1e-5, atol=1e-6)


def test_strided_inputs(backend_name):
    device = device_for(backend_name)
    mu, logvar = _inputs((9, 6), device=device, requires_grad=False)
    z, kl = reparameterize(mu.t(), logvar.t(), seed=3, backend=backend_name)
    z_ref, kl_ref = reference(mu.t().contiguous().cpu(), logvar.t().contiguous().cpu(), None, 3)
    torch.testing.assert_close(z.cpu(), z_ref, rtol=1e-5, atol=3e-5)
    torch.testing.assert_close(kl.cpu(), kl_ref, rtol=1e-5, atol=3e-5)


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_gradcheck_float64(backend):
    if backend not in fastgen.available_backends():
        pytest.skip(f"{backend} is not available")
    mu, logvar = _inputs((3, 7), dtype=torch.float64)
    fn = lambda m, lv: reparameterize(m, lv, seed=17, backend=backend)
    assert torch.autograd.gradcheck(fn, (mu, logvar))


def test_opcheck_compiled_ops():
    if "cpp" not in fastgen.available_backends():
        pytest.skip("fastgen._C is not loaded")
    mu, logvar = _inputs((4, 10), requires_grad=True)
    torch.library.opcheck(torch.ops.fastgen.reparameterize.default, (mu, logvar, None, 7))
    torch.library.opcheck(torch.ops.fastgen.reparameterize.default, (mu, logvar, torch.randn(4, 10), 7))
    # The backward op is not differentiable (double backward is refused), so no grad inputs.
    args = (torch.randn(4, 10), torch.randn(4), mu.detach(), logvar.detach(), None, 7)
    torch.library.opcheck(torch.ops.fastgen._reparameterize_backward.default, args)


def test_opcheck_triton_op():
    if "triton" not in fastgen.available_backends():
        pytest.skip("triton is not available")
    device = device_for("triton")
    mu, logvar = _inputs((4, 10), device=device, requires_grad=True)
    # The interpreter runs kernels on real CPU memory, so fake-tensor tracing needs a GPU.
    checks = ("test_schema", "test_autograd_registration")
    if device.type == "cuda":
        checks += ("test_faketensor", "test_aot_dispatch_dynamic")
    torch.library.opcheck(torch.ops.fastgen.reparameterize_triton.default, (mu, logvar, None, 7), test_utils=checks)


def test_torch_compile_fullgraph():
    if "cpp" not in fastgen.available_backends():
        pytest.skip("fastgen._C is not loaded")
    mu, logvar = _inputs((6, 12))

    @torch.compile(fullgraph=True, backend="aot_eager")
    def loss(m, lv):
        z, kl = torch.ops.fastgen.reparameterize(m, lv, None, 21)
        return z.sum() + kl.sum()

    value = loss(mu, logvar)
    value.backward()
    z, kl = reference(mu.detach(), logvar.detach(), None, 21)
    torch.testing.assert_close(value.detach(), z.sum() + kl.sum(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(mu.grad, 1 + mu.detach(), rtol=1e-5, atol=1e-5)


def test_double_backward_is_refused():
    if "cpp" not in fastgen.available_backends():
        pytest.skip("fastgen._C is not loaded")
    mu, logvar = _inputs((2, 3))
    z, _ = reparameterize(mu, logvar, seed=1, backend="cpp")
    (grad_logvar,) = torch.autograd.grad(z.sum(), logvar, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        grad_logvar.sum().backward()


def test_bad_inputs_name_the_argument():
    mu = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="logvar must have the shape of mu"):
        reparameterize(mu, torch.zeros(3, 5))
    with pytest.raises(TypeError, match="mu must have a floating dtype"):
        reparameterize(torch.zeros(3, 4, dtype=torch.int64), torch.zeros(3, 4))
    with pytest.raises(TypeError, match="logvar has dtype"):
        reparameterize(mu, torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="logvar is on meta but mu is on cpu"):
        reparameterize(mu, torch.zeros(3, 4, device="meta"))
    with pytest.raises(ValueError, match="eps must have the shape of mu"):
        reparameterize(mu, mu, eps=torch.zeros(4))
    with pytest.raises(ValueError, match="mu must have shape"):
        reparameterize(torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="latent dimension d > 0"):
        reparameterize(torch.zeros(3, 0), torch.zeros(3, 0))
    with pytest.raises(TypeError, match="mu must be a torch.Tensor"):
        reparameterize([1.0], mu)
    with pytest.raises(ValueError, match="backend must be one of"):
        reparameterize(mu, mu, backend="fortran")


def test_unavailable_backend_explains_why():
    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    with pytest.raises(RuntimeError, match="backend 'cuda' cannot run these inputs"):
        reparameterize(torch.zeros(2, 2), torch.zeros(2, 2), backend="cuda")


def test_half_inputs_keep_their_dtype(backend_name):
    device = device_for(backend_name)
    mu, logvar = _inputs((3, 5), dtype=torch.bfloat16, device=device, requires_grad=False)
    z, kl = reparameterize(mu, logvar, seed=0, backend=backend_name)
    assert z.dtype == kl.dtype == torch.bfloat16
    assert kl.shape == (3,)


def test_compiled_backends_store_no_noise_for_backward(backend_name):
    """Backward regenerates eps: the only tensors saved for backward are the inputs themselves."""
    if backend_name == "torch":
        pytest.skip("the reference lets autograd store what it needs")
    device = device_for(backend_name)
    mu, logvar = _inputs((8, 16), device=device)
    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        z, kl = reparameterize(mu, logvar, seed=2, backend=backend_name)
    assert saved, "nothing was saved: the op did not record its inputs"
    assert {t.data_ptr() for t in saved} <= {mu.data_ptr(), logvar.data_ptr()}


def test_broadcast_grad_z_is_not_materialised(backend_name):
    """z.sum() hands backward one value expanded to z's shape; the result equals a full grad."""
    device = device_for(backend_name)
    mu, logvar = _inputs((5, 11), device=device)
    z, kl = reparameterize(mu, logvar, seed=4, backend=backend_name)
    got = torch.autograd.grad(3.0 * z.sum() + kl.sum(), (mu, logvar))
    z, kl = reparameterize(mu, logvar, seed=4, backend=backend_name)
    full = torch.full_like(z, 3.0) + 0 * torch.rand_like(z)  # a real tensor, not an expanded one
    want = torch.autograd.grad((z * full).sum() + kl.sum(), (mu, logvar))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)
