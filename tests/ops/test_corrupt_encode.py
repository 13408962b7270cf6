"""fastgen.ops.corrupt_encode's own numerics: the mask is the reference's bit for bit, the extreme
corruption levels, tiles of the cpp kernel, seeds and mixed dtypes. Values, gradients, dtypes,
shapes, opcheck, compile and bad inputs are in the op contract (test_contract.py)."""

import pytest
import torch

from fastgen.ops import corrupt_encode, last_seed
from fastgen.ops.reference.corrupt_encode import corrupt_encode as reference
from fastgen.ops.reference.corrupt_encode import keep_mask
from tests.conftest import device_for

# float32 against the float32 reference (as in the contract's table): both run a float32 GEMM over
# at most a few hundred O(1) terms in another order.
TOLERANCE = {"atol": 2e-5, "rtol": 2e-5}


def make_inputs(n, n_visible, n_hidden, device="cpu", seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_visible, generator=generator)
    weight = torch.randn(n_visible, n_hidden, generator=generator) / max(n_visible, 1) ** 0.5
    bias = torch.randn(n_hidden, generator=generator)
    grad_h = torch.randn(n, n_hidden, generator=generator)
    return [t.to(device) for t in (x, weight, bias, grad_h)]


def value_and_grads(fn, x, weight, bias, grad_h):
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    h = fn(*leaves)
    grads = torch.autograd.grad(h, leaves, grad_h)
    return [t.detach().cpu() for t in (h, *grads)]


def run(backend, corruption, seed):
    return lambda x, weight, bias: corrupt_encode(x, weight, bias, corruption=corruption, seed=seed, backend=backend)


def run_reference(corruption, seed):
    return lambda x, weight, bias: reference(x, weight, bias, corruption, seed)


@pytest.mark.parametrize("corruption", [0.0, 0.9])
def test_extreme_corruption_levels_match_the_reference(backend_name, corruption):
    inputs = make_inputs(17, 31, 5)
    got = value_and_grads(run(backend_name, corruption, 1234), *(t.to(device_for(backend_name)) for t in inputs))
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


@pytest.mark.parametrize("corruption", [0.5, 0.95])
def test_mask_is_bit_identical_to_the_reference(backend_name, corruption):
    # weight = identity, bias = 0, x = 1: h = sigmoid(1) where an input is kept, 1/2 where it is
    # dropped; grad_x is nonzero exactly where kept. Both must show the reference's mask.
    n, d = 19, 37
    device = device_for(backend_name)
    x, weight, bias = (t.to(device) for t in (torch.ones(n, d), torch.eye(d), torch.zeros(d)))
    h, grad_x, _, _ = value_and_grads(run(backend_name, corruption, 2024), x, weight, bias, torch.ones_like(x))
    keep = keep_mask(x.cpu(), corruption, 2024)
    assert torch.equal(h > 0.6, keep)
    assert torch.equal(grad_x != 0, keep)


def test_seed_none_is_drawn_recorded_and_replayable():
    x, weight, bias, _ = make_inputs(4, 9, 3)
    torch.manual_seed(7)
    first = corrupt_encode(x, weight, bias, corruption=0.5)
    seed = last_seed()
    torch.manual_seed(7)
    assert torch.equal(corrupt_encode(x, weight, bias, corruption=0.5), first)
    assert torch.equal(corrupt_encode(x, weight, bias, corruption=0.5, seed=seed), first)


def test_mixed_dtypes_run_on_the_reference_and_refuse_compiled_backends(backend_name):
    x, weight, bias, _ = (t.to(device_for(backend_name)) for t in make_inputs(3, 4, 2))
    if backend_name == "torch":
        got = corrupt_encode(x, weight.double(), bias, corruption=0.3, seed=2)
        torch.testing.assert_close(got, reference(x, weight.double(), bias, 0.3, 2))
        return
    with pytest.raises(RuntimeError, match=f"{backend_name} takes its tensors in one dtype"):
        corrupt_encode(x, weight.double(), bias, corruption=0.3, seed=2, backend=backend_name)


def test_data_inputs_get_no_grad_x_and_the_same_parameter_gradients(backend_name):
    """A DAE's input x is data (no requires_grad): the backward then skips grad_x (its GEMM is a
    third of the work) and returns the reference's grad_weight and grad_bias; across 300 rows the
    CPU kernel's chunks of 256 rows are crossed too."""
    device = device_for(backend_name)
    x, weight, bias, grad_h = make_inputs(300, 31, 7)
    leaves = [t.detach().clone().requires_grad_() for t in (weight, bias)]
    want = torch.autograd.grad(reference(x, *leaves, 0.3, 99), leaves, grad_h)
    leaves_here = [t.detach().clone().to(device).requires_grad_() for t in (weight, bias)]
    x_here = x.to(device)
    h = corrupt_encode(x_here, *leaves_here, corruption=0.3, seed=99, backend=backend_name)
    h.backward(grad_h.to(device))
    assert x_here.grad is None
    for name, leaf, w in zip(("grad_weight", "grad_bias"), leaves_here, want, strict=True):
        torch.testing.assert_close(leaf.grad.cpu(), w, **TOLERANCE, msg=lambda m, name=name: f"{name}: {m}")


def test_the_backward_op_without_grad_x_passes_opcheck(backend_name):
    """The backward op's grad_x_needed=False form: an empty grad_x, the same in its fake."""
    from fastgen.ops.corrupt_encode import OP

    if backend_name == "torch":
        pytest.skip("the reference is differentiated by autograd, not through a backward op")
    device = device_for(backend_name)
    if device.type == "cpu" and backend_name == "triton":
        pytest.skip("opcheck traces fake tensors, which the Triton interpreter cannot run")
    x, weight, bias, grad_h = make_inputs(5, 6, 4, device)
    h = torch.sigmoid(x @ weight + bias)
    args = (grad_h, h, x, weight, 0.3, torch.tensor([11, 0], device=device), False)
    grad_x, grad_weight, _ = OP.backward_ops[backend_name](*args)
    assert grad_x.shape == (0,) and grad_weight.shape == weight.shape
    torch.library.opcheck(OP.backward_ops[backend_name], args, test_utils=("test_schema", "test_faketensor"))


def test_without_a_seed_triton_reads_a_device_key_and_its_backward_reads_it_again():
    """What a GPU call without a seed does, run here on the Triton kernels directly (on CPU tensors
    under the interpreter): the mask comes from a (seed, base) tensor drawn on the tensors' device,
    the forward returns it, and the backward draws the same mask from it (grad_x is zero exactly
    where an input was dropped)."""
    import fastgen
    from fastgen.ops import philox
    from fastgen.ops.corrupt_encode import OP

    if "triton" not in fastgen.available_backends():
        pytest.skip("triton is not usable here")
    n, d = 7, 19
    device = device_for("triton")
    x = torch.ones(n, d, device=device).requires_grad_()
    weight, bias = torch.eye(d, device=device), torch.zeros(d, device=device)
    torch.manual_seed(4)
    h, rng_state = OP.custom_ops["triton"](x, weight, bias, 0.5, None)
    seed, base = rng_state.tolist()
    keep = philox.uniform(seed, base + torch.arange(n * d).view(n, d)) >= 0.5
    assert torch.equal(h.detach().cpu() > 0.6, keep)  # sigmoid(1) kept, sigmoid(0) dropped
    (grad_x,) = torch.autograd.grad(h.sum(), (x,))
    assert torch.equal(grad_x.cpu() != 0, keep)
