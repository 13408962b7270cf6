"""fastgen.ops.reparameterize's own numerics: eps is the Philox stream, a given eps is used as is,
the analytic gradients of kl, and what the backward keeps in memory. Values, gradients, dtypes,
shapes, opcheck, compile and bad inputs are in the op contract (test_contract.py)."""

import pytest
import torch

import fastgen
from fastgen.ops import reparameterize
from tests.conftest import device_for


def _inputs(shape, device, requires_grad=True):
    gen = torch.Generator().manual_seed(sum(shape))
    mu = torch.randn(shape, generator=gen)
    logvar = 0.5 * torch.randn(shape, generator=gen)
    return [t.to(device).requires_grad_(requires_grad) for t in (mu, logvar)]


def test_given_eps_is_used_exactly(backend_name):
    device = device_for(backend_name)
    mu, logvar = _inputs((5, 9), device, requires_grad=False)
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


def test_gradient_of_kl_alone_is_analytic(backend_name):
    """d kl / d mu = mu and d kl / d logvar = (exp(logvar) - 1) / 2, with no gradient reaching z."""
    mu, logvar = _inputs((3, 8), device_for(backend_name))
    _, kl = reparameterize(mu, logvar, seed=5, backend=backend_name)
    grad_mu, grad_logvar = torch.autograd.grad(kl.sum(), (mu, logvar))
    torch.testing.assert_close(grad_mu, mu.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad_logvar, 0.5 * (logvar.detach().exp() - 1), rtol=1e-5, atol=1e-6)


def test_compiled_backends_store_no_noise_for_backward(backend_name):
    """Backward regenerates eps: the tensors saved for backward are the inputs themselves and the
    forward's rng_state, two int64 (seed, base) -- never eps."""
    if backend_name == "torch":
        pytest.skip("the reference lets autograd store what it needs")
    mu, logvar = _inputs((8, 16), device_for(backend_name))
    saved = []

    def pack(tensor):
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        reparameterize(mu, logvar, seed=2, backend=backend_name)
    assert saved, "nothing was saved: the op did not record its inputs"
    rng_states = [t for t in saved if t.dtype == torch.int64]
    assert len(rng_states) == 1 and rng_states[0].shape == (2,)
    assert {t.data_ptr() for t in saved if t.dtype != torch.int64} <= {mu.data_ptr(), logvar.data_ptr()}


def test_broadcast_grad_z_is_not_materialised(backend_name):
    """z.sum() hands backward one value expanded to z's shape; the result equals a full grad."""
    mu, logvar = _inputs((5, 11), device_for(backend_name))
    z, kl = reparameterize(mu, logvar, seed=4, backend=backend_name)
    got = torch.autograd.grad(3.0 * z.sum() + kl.sum(), (mu, logvar))
    z, kl = reparameterize(mu, logvar, seed=4, backend=backend_name)
    full = torch.full_like(z, 3.0) + 0 * torch.rand_like(z)  # a real tensor, not an expanded one
    want = torch.autograd.grad((z * full).sum() + kl.sum(), (mu, logvar))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)


def test_without_a_seed_triton_reads_a_device_key_and_its_backward_reads_it_again():
    """What a GPU call without a seed does, run here on the Triton kernels directly (on CPU tensors
    under the interpreter): the forward loads (seed, base) from a tensor drawn by torch's generator
    on the tensors' device and returns it; z and the gradients are the reference's for that key,
    and the reference draws the same key from the same generator state."""
    from fastgen.ops import philox
    from fastgen.ops.reparameterize import OP

    if "triton" not in fastgen.available_backends():
        pytest.skip("triton is not usable here")
    mu, logvar = _inputs((5, 9), device_for("triton"))
    torch.manual_seed(8)
    z, kl, rng_state = OP.custom_ops["triton"](mu, logvar, None, None)
    seed, base = rng_state.tolist()
    assert base != 0  # both numbers are drawn (an explicit seed has base 0)
    eps = philox.normal(seed, base + torch.arange(45).view(5, 9)).to(mu.device)
    std = torch.exp(0.5 * logvar.detach())
    torch.testing.assert_close(z.detach(), mu.detach() + std * eps, rtol=1e-5, atol=3 * 4 * 6 * 2**-23)
    grad_mu, grad_logvar = torch.autograd.grad(z.sum(), (mu, logvar))
    torch.testing.assert_close(grad_mu, torch.ones_like(mu))
    torch.testing.assert_close(grad_logvar, 0.5 * eps * std, rtol=1e-5, atol=2 * 4 * 6 * 2**-23)
    torch.manual_seed(8)
    z_reference, _ = fastgen.ops.reference.reparameterize.reparameterize(mu, logvar, None, None)
    torch.testing.assert_close(z.detach(), z_reference.detach(), rtol=1e-5, atol=3 * 4 * 6 * 2**-23)
