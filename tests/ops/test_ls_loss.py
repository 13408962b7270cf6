"""The least-squares GAN losses' own numerics (Mao et al., ICCV 2017, eq. 2): the second
derivatives a gradient penalty on D takes, the label sets of the paper, what the public functions
return, and mixed dtypes. Values, gradients, double backward (gradgradcheck), dtypes, shapes,
opcheck, compile and bad inputs are in the op contract (test_contract.py)."""

import pytest
import torch

from fastgen.ops import ls_discriminator_loss, ls_generator_loss
from fastgen.ops.reference import ls_loss as reference
from tests.conftest import device_for

# Same rows as the contract's table: float64 kernels differ only in summation order; float32
# sides sum a few hundred O(1) terms in another order.
TOLERANCE = {torch.float64: {"atol": 1e-10, "rtol": 1e-10}, torch.float32: {"atol": 2e-5, "rtol": 2e-5}}


def _penalty_gradients(backend, dtype, device):
    """Gradients in D's parameters of |grad_x (L_D + L_G)|^2 for a small D (a 5-16-1 tanh MLP):
    the WGAN-GP / R1 style penalty, which differentiates the losses twice."""
    generator = torch.Generator().manual_seed(0)
    make = lambda *shape: torch.randn(shape, generator=generator, dtype=torch.float64).to(device, dtype)  # noqa: E731
    w1, b1, w2, b2 = (make(*s).requires_grad_() for s in ((5, 16), (16,), (16, 1), (1,)))
    real, fake = make(33, 5).requires_grad_(), make(29, 5).requires_grad_()

    def discriminator(x):
        return torch.tanh(x @ w1 + b1) @ w2 + b2

    d_real, d_fake = discriminator(real), discriminator(fake)
    if backend == "reference":
        loss = reference.ls_discriminator_loss(d_real, d_fake, 0.0, 1.0) + reference.ls_generator_loss(d_fake, 1.0)
    else:
        loss = ls_discriminator_loss(d_real, d_fake, 0, 1, backend=backend) + ls_generator_loss(
            d_fake, 1, backend=backend
        )
    grad_real, grad_fake = torch.autograd.grad(loss, (real, fake), create_graph=True)
    penalty = grad_real.pow(2).sum() + grad_fake.pow(2).sum()
    return [g.detach().cpu() for g in torch.autograd.grad(penalty, (w1, b1, w2, b2))]


def test_gradient_penalty_on_the_discriminator_matches_the_reference(backend_name):
    """The losses' curvature d^2 L / d d^2 = 1 / count reaches D's parameters: saving the gradient
    as a constant (as the kernels once did) leaves out most of the penalty's gradient."""
    device = device_for(backend_name)
    dtype = torch.float64 if backend_name in ("torch", "cpp", "cuda") else torch.float32
    got = _penalty_gradients(backend_name, dtype, device)
    want = _penalty_gradients("reference", dtype, "cpu")
    for name, g, w in zip(("w1", "b1", "w2", "b2"), got, want, strict=True):
        torch.testing.assert_close(g, w, **TOLERANCE[dtype], msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize(("a", "b", "c"), [(-1.0, 1.0, 0.0), (0.0, 1.0, 1.0)])
def test_the_papers_label_sets(backend_name, a, b, c):
    """Mao et al.'s two codings: a = -1, b = 1, c = 0 (the Pearson chi^2 one) and 0-1 labels."""
    device = device_for(backend_name)
    generator = torch.Generator().manual_seed(1)
    d_real, d_fake = torch.randn(37, generator=generator), torch.randn(41, 1, generator=generator)
    got_d = ls_discriminator_loss(d_real.to(device), d_fake.to(device), a, b, backend=backend_name)
    got_g = ls_generator_loss(d_fake.to(device), c, backend=backend_name)
    torch.testing.assert_close(
        got_d.cpu(), reference.ls_discriminator_loss(d_real, d_fake, a, b), **TOLERANCE[torch.float32]
    )
    torch.testing.assert_close(got_g.cpu(), reference.ls_generator_loss(d_fake, c), **TOLERANCE[torch.float32])


def test_gradient_outputs_do_not_leak_into_the_public_result(backend_name):
    d_fake = torch.randn(4, device=device_for(backend_name)).requires_grad_()
    loss = ls_generator_loss(d_fake, 0, backend=backend_name)
    assert loss.shape == () and loss.requires_grad


def test_mixed_dtypes_run_on_the_reference_and_refuse_compiled_backends(backend_name):
    device = device_for(backend_name)
    d_real, d_fake = torch.randn(5, device=device), torch.randn(5, device=device, dtype=torch.float64)
    if backend_name == "torch":
        got = ls_discriminator_loss(d_real, d_fake, -1, 1)
        torch.testing.assert_close(got, reference.ls_discriminator_loss(d_real, d_fake, -1.0, 1.0))
        return
    with pytest.raises(RuntimeError, match=f"{backend_name} takes its tensors in one dtype"):
        ls_discriminator_loss(d_real, d_fake, -1, 1, backend=backend_name)


@pytest.mark.parametrize("grad_loss", [None, 2.5])
def test_retained_and_repeated_backward_passes_accumulate_the_references_gradients(backend_name, grad_loss):
    """The backward hands its saved gradient back itself (scaled in place) only when no one can
    read it again: a graph kept by retain_graph=True must give the same gradient at every pass,
    and gradients accumulated into .grad over D's and G's losses must equal the reference's."""
    device = device_for(backend_name)
    generator = torch.Generator().manual_seed(2)
    scores = [torch.randn(300, 1, generator=generator) for _ in range(2)]

    def accumulated(backend):
        d_real, d_fake = (s.to(device).requires_grad_() for s in scores)
        if backend == "reference":
            loss_d = reference.ls_discriminator_loss(d_real, d_fake, -1.0, 1.0)
            loss_g = reference.ls_generator_loss(d_fake, 0.0)
        else:
            loss_d = ls_discriminator_loss(d_real, d_fake, -1, 1, backend=backend)
            loss_g = ls_generator_loss(d_fake, 0, backend=backend)
        weight = None if grad_loss is None else torch.tensor(grad_loss, device=device)
        for _ in range(3):  # three passes over a kept graph, then the last one frees it
            loss_d.backward(weight, retain_graph=True)
        loss_d.backward(weight)
        loss_g.backward(weight)
        return d_real.grad.cpu(), d_fake.grad.cpu()

    for got, want in zip(accumulated(backend_name), accumulated("reference"), strict=True):
        torch.testing.assert_close(got, want, **TOLERANCE[torch.float32])
