"""fastgen.ops.tied_autoencoder's own numerics: it is corrupt_encode followed by the tied decoder,
with corrupt_encode's mask for the same seed; data inputs get no grad_x; seeds replay. Values,
gradients (x included), dtypes, shapes, opcheck, compile and bad inputs are in the op contract
(test_contract.py)."""

import pytest
import torch

from fastgen.ops import corrupt_encode, last_seed, tied_autoencoder
from fastgen.ops.reference.tied_autoencoder import tied_autoencoder as reference
from fastgen.ops.tied_autoencoder import OP
from tests.conftest import device_for

# float32 against float32 (the contract's row): GEMMs over at most a few hundred O(1) terms
# summed in another order; the tied weight's gradient sums 2N rows in one GEMM instead of two.
TOLERANCE = {"atol": 2e-5, "rtol": 2e-5}


@pytest.fixture
def op_backend(backend_name):
    """``backend_name``, skipped where the op has no kernels."""
    if backend_name not in OP.implementations:
        pytest.skip(f"tied_autoencoder has no {backend_name} implementation")
    return backend_name


def make_inputs(n, n_visible, n_hidden, device="cpu", seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_visible, generator=generator)
    weight = torch.randn(n_visible, n_hidden, generator=generator) / max(n_visible, 1) ** 0.5
    hidden_bias = torch.randn(n_hidden, generator=generator)
    visible_bias = torch.randn(n_visible, generator=generator)
    grad_logits = torch.randn(n, n_visible, generator=generator)
    return [t.to(device) for t in (x, weight, hidden_bias, visible_bias, grad_logits)]


@pytest.mark.parametrize("corruption", [0.0, 0.3, 0.9])
def test_equals_corrupt_encode_then_the_tied_decoder(op_backend, corruption):
    """The same mask as corrupt_encode for the same seed (on the same backend), then h W^T + b'."""
    x, weight, hidden_bias, visible_bias, _ = make_inputs(9, 23, 6, device_for(op_backend))
    got = tied_autoencoder(x, weight, hidden_bias, visible_bias, corruption=corruption, seed=5, backend=op_backend)
    h = corrupt_encode(x, weight, hidden_bias, corruption=corruption, seed=5, backend=op_backend)
    torch.testing.assert_close(got, h @ weight.t() + visible_bias, **TOLERANCE)


def test_data_inputs_get_no_grad_x_and_the_reference_parameter_gradients(op_backend):
    """A DAE's x is data: no grad_x; the three parameter gradients are the reference's, across
    more rows than corrupt_encode's CPU chunk of 256."""
    device = device_for(op_backend)
    x, weight, hidden_bias, visible_bias, grad_logits = make_inputs(300, 31, 7)
    leaves = [t.detach().clone().requires_grad_() for t in (weight, hidden_bias, visible_bias)]
    want = torch.autograd.grad(reference(x, *leaves, 0.3, 99), leaves, grad_logits)
    leaves_here = [t.detach().clone().to(device).requires_grad_() for t in (weight, hidden_bias, visible_bias)]
    x_here = x.to(device)
    logits = tied_autoencoder(x_here, *leaves_here, corruption=0.3, seed=99, backend=op_backend)
    logits.backward(grad_logits.to(device))
    assert x_here.grad is None
    names = ("grad_weight", "grad_hidden_bias", "grad_visible_bias")
    for name, leaf, w in zip(names, leaves_here, want, strict=True):
        torch.testing.assert_close(leaf.grad.cpu(), w, **TOLERANCE, msg=lambda m, name=name: f"{name}: {m}")


def test_seed_none_is_drawn_recorded_and_replayable():
    x, weight, hidden_bias, visible_bias, _ = make_inputs(4, 9, 3)
    torch.manual_seed(7)
    first = tied_autoencoder(x, weight, hidden_bias, visible_bias, corruption=0.5)
    seed = last_seed()
    torch.manual_seed(7)
    assert torch.equal(tied_autoencoder(x, weight, hidden_bias, visible_bias, corruption=0.5), first)
    assert torch.equal(tied_autoencoder(x, weight, hidden_bias, visible_bias, corruption=0.5, seed=seed), first)
    assert not torch.equal(tied_autoencoder(x, weight, hidden_bias, visible_bias, corruption=0.5), first)


def test_the_backward_op_without_grad_x_passes_opcheck(backend_name):
    """The backward op's grad_x_needed=False form: an empty grad_x, the same in its fake."""
    if backend_name not in OP.backward_ops:
        pytest.skip(f"tied_autoencoder has no {backend_name} backward op")
    device = device_for(backend_name)
    x, weight, hidden_bias, _, grad_logits = make_inputs(5, 6, 4, device)
    h = torch.sigmoid(x @ weight + hidden_bias)
    args = (grad_logits, h, x, weight, 0.3, torch.tensor([11, 0], device=device), False)
    grad_x, grad_weight, grad_hidden_bias, grad_visible_bias = OP.backward_ops[backend_name](*args)
    assert grad_x.shape == (0,) and grad_weight.shape == weight.shape
    assert grad_hidden_bias.shape == (4,) and grad_visible_bias.shape == (6,)
    torch.library.opcheck(OP.backward_ops[backend_name], args, test_utils=("test_schema", "test_faketensor"))
