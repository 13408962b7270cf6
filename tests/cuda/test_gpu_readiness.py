"""What a GPU run needs beyond the numerics of tests/ops: the random ops captured in CUDA graphs
(new noise at every replay, each replay equal to an eager call from the same generator state,
gradients included; torch.compile(mode="reduce-overhead") too), TF32-proof GEMMs, the device guard (tensors on a
second GPU), multi-block reductions, bit-symmetric covariance tiles, and the host checks of the
C++ ops (d = 0, the device of grad_kl). Tests that need a GPU carry pytest.mark.cuda; the few
that check the same host code on the CPU run everywhere."""

import pytest
import torch

import fastgen
from fastgen import ops

HAS_GPU = torch.cuda.is_available()
cuda = pytest.mark.cuda
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
GPU_BACKENDS = [name for name in ("cuda", "triton") if name in fastgen.available_backends()] if HAS_GPU else []
gpu_backends = pytest.mark.parametrize("backend", GPU_BACKENDS or ["cuda"])


def _devices():
    yield pytest.param(torch.device("cpu"), id="cpu")
    yield pytest.param(torch.device("cuda"), id="cuda", marks=[cuda, needs_gpu])


def _compiled_op_available():
    return fastgen.backends.unavailable_reason("cpp") is None


# -- CUDA graphs -----------------------------------------------------------------------------------


RANDOM_BACKENDS = [name for name in ("cuda", "triton", "torch") if name in fastgen.available_backends()]
RANDOM_BACKENDS = RANDOM_BACKENDS if HAS_GPU else []
random_backends = pytest.mark.parametrize("backend", RANDOM_BACKENDS or ["cuda"])


def _random_calls(backend: str, seed: int | None = None) -> dict:
    """Each random op on CUDA inputs, as a call returning its output (inputs fixed, noise drawn)."""
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 8, 16, generator=gen).cuda()
    x, weight, bias = torch.rand(8, 16, generator=gen).cuda(), torch.randn(16, 4).cuda(), torch.zeros(4).cuda()
    visible_bias = torch.zeros(16).cuda()
    return {
        "reparameterize": lambda: ops.reparameterize(mu, logvar, seed=seed, backend=backend)[0],
        "corrupt_encode": lambda: ops.corrupt_encode(x, weight, bias, corruption=0.5, seed=seed, backend=backend),
        "tied_autoencoder": lambda: ops.tied_autoencoder(
            x, weight, bias, visible_bias, corruption=0.5, seed=seed, backend=backend
        ),
    }


def _warm_up(step) -> None:
    """Run ``step`` on a side stream before capturing it (Triton compiles, cuBLAS makes its handles),
    as torch.cuda.graph's documentation asks."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()


def _replays_and_eager(graph, outputs, step, replays: int = 3):
    """For each replay: what the graph wrote, and what ``step`` gives eagerly from the CUDA
    generator state the replay started from."""
    pairs = []
    for _ in range(replays):
        state = torch.cuda.get_rng_state()
        graph.replay()
        replayed = [t.clone() for t in outputs]
        after = torch.cuda.get_rng_state()
        torch.cuda.set_rng_state(state)
        eager = [t.detach().clone() for t in step()]
        assert torch.equal(torch.cuda.get_rng_state(), after), "eager and replay advanced the generator differently"
        pairs.append((replayed, eager))
    return pairs


@cuda
@needs_gpu
@random_backends
def test_random_ops_draw_new_noise_at_every_cuda_graph_replay(backend):
    """Without a seed the noise comes from torch's CUDA generator on the device: a graph captured
    around a random op draws new noise at each of 3 replays, each equal to an eager call made
    from the generator state that replay started from."""
    for name, call in _random_calls(backend).items():
        _warm_up(call)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = call()
        pairs = _replays_and_eager(graph, [out], lambda call=call: [call()])
        for replayed, eager in pairs:
            assert torch.equal(replayed[0], eager[0]), name
        draws = [replayed[0] for replayed, _ in pairs]
        for i in range(3):
            for j in range(i):
                assert not torch.equal(draws[i], draws[j]), f"{name}: replays {j} and {i} drew the same noise"


@cuda
@needs_gpu
@random_backends
def test_gradients_through_a_captured_step_equal_eager(backend):
    """Forward and backward of the random ops captured as one step: at each replay the gradients
    equal those of an eager step from the same generator state (the backward draws the forward's
    noise again from the rng_state the forward left on the device), and they change with the noise.
    Tolerance: the GEMMs of corrupt_encode's backward may take another cuBLAS algorithm inside a
    capture (its workspace differs), which sums in another order: a few float32 ulp of values O(1)."""
    gen = torch.Generator().manual_seed(5)
    mu = torch.randn(32, 16, generator=gen).cuda().requires_grad_()
    logvar = (0.5 * torch.randn(32, 16, generator=gen)).cuda().requires_grad_()
    x = torch.rand(32, 24, generator=gen).cuda()
    weight = (torch.randn(24, 16, generator=gen) / 5).cuda().requires_grad_()
    bias = torch.zeros(16).cuda().requires_grad_()
    leaves = (mu, logvar, weight, bias)

    visible_bias = torch.zeros(24).cuda().requires_grad_()
    leaves = (*leaves, visible_bias)

    def step():
        z, kl = ops.reparameterize(mu, logvar, backend=backend)
        h = ops.corrupt_encode(x, weight, bias, corruption=0.3, backend=backend)
        logits = ops.tied_autoencoder(x, weight, bias, visible_bias, corruption=0.3, backend=backend)
        loss = (z * z).sum() + kl.sum() + (h * h).sum() + (logits * logits).sum()
        return torch.autograd.grad(loss, leaves)

    _warm_up(step)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        grads = step()
    pairs = _replays_and_eager(graph, grads, step)
    for replayed, eager in pairs:
        names = ("mu", "logvar", "weight", "bias", "visible_bias")
        for name, got, want in zip(names, replayed, eager, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=lambda m, name=name: f"grad {name}: {m}")
    first, second = pairs[0][0], pairs[1][0]
    assert not torch.equal(first[1], second[1]), "grad logvar carries eps: it must change between replays"
    assert not torch.equal(first[2], second[2]), "grad weight carries the mask: it must change between replays"


@cuda
@needs_gpu
@random_backends
def test_an_explicit_seed_replays_its_own_stream_under_capture(backend):
    """Given a seed, a captured op replays that seed's stream: the reference's numbers, unchanged."""
    for name, call in _random_calls(backend, seed=11).items():
        _warm_up(call)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = call()
        graph.replay()
        expected = _random_calls("torch", seed=11)[name]()
        # reparameterize: Box-Muller's log/cos differ by a few ulp of eps (|eps| < 6) between math
        # libraries, times std <= 3; corrupt_encode: the same mask, its GEMM summed in another order
        atol = 3 * 4 * 6 * 2**-23 if name == "reparameterize" else 1e-6
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=atol)


@cuda
@needs_gpu
@gpu_backends
def test_random_ops_under_torch_compile_reduce_overhead_draw_new_noise(backend):
    """torch.compile(mode="reduce-overhead") captures the op in CUDA graphs: successive calls still
    draw new noise (on the cuda backend, the eager call's noise from the same generator state)."""
    gen = torch.Generator().manual_seed(6)
    mu, logvar = torch.randn(2, 64, 32, generator=gen).cuda()
    torch._dynamo.reset()

    def sample(mu, logvar):
        return ops.reparameterize(mu, logvar, backend=backend)[0]

    compiled = torch.compile(sample, mode="reduce-overhead", fullgraph=True)
    draws = []
    for _ in range(5):  # the first calls warm up and record; the later ones replay
        state = torch.cuda.get_rng_state()
        draws.append(compiled(mu, logvar).clone())
        if backend == "cuda":
            torch.cuda.set_rng_state(state)
            assert torch.equal(draws[-1], sample(mu, logvar))
    for i in range(len(draws)):
        for j in range(i):
            assert not torch.equal(draws[i], draws[j]), f"calls {j} and {i} drew the same noise"


@cuda
@needs_gpu
@gpu_backends
def test_deterministic_ops_replay_under_cuda_graph(backend):
    """Ops without a seed (and reparameterize given eps) capture and replay: new inputs copied into
    the static tensors give the eager results."""
    gen = torch.Generator().manual_seed(1)
    d_real, d_fake = torch.randn(2, 3000, generator=gen).cuda()
    mu, logvar, eps = torch.randn(3, 64, 32, generator=gen).cuda()
    ops.ls_discriminator_loss(d_real, d_fake, 0.0, 1.0, backend=backend)
    ops.reparameterize(mu, logvar, eps=eps, backend=backend)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        loss = ops.ls_discriminator_loss(d_real, d_fake, 0.0, 1.0, backend=backend)
        z, kl = ops.reparameterize(mu, logvar, eps=eps, backend=backend)
    for source in (d_real, d_fake, mu, logvar, eps):
        source.copy_(torch.randn(source.shape, generator=gen).cuda())
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(loss, ops.ls_discriminator_loss(d_real, d_fake, 0.0, 1.0, backend=backend))
    z_eager, kl_eager = ops.reparameterize(mu, logvar, eps=eps, backend=backend)
    assert torch.equal(z, z_eager) and torch.equal(kl, kl_eager)


# -- TF32 ------------------------------------------------------------------------------------------


@cuda
@needs_gpu
def test_cuda_corrupt_encode_ignores_the_tf32_flag():
    """The GEMMs run in IEEE float32 whatever allow_tf32 says (at::NoTF32Guard): same bits, and
    within float32 accuracy of the float64 reference (TF32 would be ~1e-3 off)."""
    if "cuda" not in fastgen.available_backends():
        pytest.skip("fastgen._C has no CUDA kernels")
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(256, 784, generator=gen).cuda().requires_grad_()
    weight = (torch.randn(784, 512, generator=gen) / 28).cuda().requires_grad_()
    bias = torch.zeros(512).cuda().requires_grad_()
    results = []
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        for allow in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = allow
            h = ops.corrupt_encode(x, weight, bias, corruption=0.3, seed=5, backend="cuda")
            grads = torch.autograd.grad(h.sum(), (x, weight, bias))
            results.append((h.detach(), *grads))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    for ieee, with_flag in zip(*results, strict=True):
        assert torch.equal(ieee, with_flag)
    h64 = ops.corrupt_encode(x.double(), weight.double(), bias.double(), corruption=0.3, seed=5, backend="torch")
    torch.testing.assert_close(results[0][0].double(), h64.detach(), rtol=0, atol=1e-5)


# -- device guard ----------------------------------------------------------------------------------


@cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
@gpu_backends
def test_tensors_on_the_second_gpu(backend):
    """With cuda:0 current, ops on cuda:1 tensors run on cuda:1 and give cuda:0's results."""
    gen = torch.Generator().manual_seed(4)
    mu, logvar = torch.randn(2, 33, 17, generator=gen)
    scores = torch.randn(2, 5000, generator=gen)
    features = torch.randn(300, 70, generator=gen)
    torch.cuda.set_device(0)
    results = []
    for device in ("cuda:0", "cuda:1"):
        z, kl = ops.reparameterize(mu.to(device), logvar.to(device), seed=9, backend=backend)
        loss = ops.ls_discriminator_loss(scores[0].to(device), scores[1].to(device), 0.0, 1.0, backend=backend)
        assert z.device == torch.device(device) and loss.device == torch.device(device)
        outputs = [z, kl, loss]
        if backend == "triton":
            outputs.append(ops.covariance(features.to(device), backend=backend))
        torch.cuda.synchronize(device)
        results.append([t.cpu() for t in outputs])
    for first, second in zip(*results, strict=True):
        assert torch.equal(first, second)


# -- reductions and covariance tiles --------------------------------------------------------------


@cuda
@needs_gpu
@gpu_backends
def test_ls_loss_over_many_blocks_is_exact_and_deterministic(backend):
    gen = torch.Generator().manual_seed(6)
    d_real, d_fake = torch.randn(2, 2**20, generator=gen).cuda()
    first = ops.ls_discriminator_loss(d_real, d_fake, 0.0, 1.0, backend=backend)
    second = ops.ls_discriminator_loss(d_real, d_fake, 0.0, 1.0, backend=backend)
    assert torch.equal(first, second)
    expected = ops.ls_discriminator_loss(d_real.double().cpu(), d_fake.double().cpu(), 0.0, 1.0, backend="torch")
    # float32 partial sums over 2^20 terms: relative error well under 1e-5 with a tree reduction
    torch.testing.assert_close(first.double().cpu(), expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize("device", list(_devices()))
def test_triton_covariance_is_bit_symmetric(device):
    """Diagonal tiles keep their upper triangle and mirror it (tf32x3 products are not symmetric)."""
    if "triton" not in fastgen.available_backends():
        pytest.skip("triton is not usable here")
    if device.type == "cpu" and HAS_GPU:
        pytest.skip("Triton runs on CPU tensors only under the interpreter, without a GPU")
    gen = torch.Generator().manual_seed(7)
    x = (torch.randn(130, 100, generator=gen) * torch.linspace(0.1, 10, 100) + 5).to(device)
    cov = ops.covariance(x, backend="triton")
    assert torch.equal(cov, cov.T)
    torch.testing.assert_close(cov.double().cpu(), torch.cov(x.double().cpu().T), rtol=1e-4, atol=1e-4)


# -- host checks of the C++ ops --------------------------------------------------------------------


@pytest.mark.parametrize("device", list(_devices()))
def test_cpp_reparameterize_with_empty_latent_returns_zero_kl(device):
    if device.type == "cpu" and not _compiled_op_available():
        pytest.skip("fastgen._C is not built")
    if device.type == "cuda" and "cuda" not in fastgen.available_backends():
        pytest.skip("fastgen._C has no CUDA kernels")
    mu = torch.empty(4, 3, 0, device=device)
    z, kl, rng_state = torch.ops.fastgen.reparameterize(mu, mu.clone(), None, 1)
    assert z.shape == (4, 3, 0) and kl.shape == (4, 3) and rng_state.shape == (2,)
    assert torch.equal(kl, torch.zeros(4, 3, device=device))
    grad_mu, grad_logvar = torch.ops.fastgen._reparameterize_backward(
        torch.empty_like(mu), torch.ones(4, 3, device=device), mu, mu.clone(), None, rng_state
    )
    assert grad_mu.shape == grad_logvar.shape == (4, 3, 0)


@cuda
@needs_gpu
def test_cuda_reparameterize_backward_checks_the_device_of_grad_kl():
    if "cuda" not in fastgen.available_backends():
        pytest.skip("fastgen._C has no CUDA kernels")
    mu = torch.randn(4, 8, device="cuda")
    with pytest.raises(RuntimeError, match="grad_kl must be on the device of mu"):
        torch.ops.fastgen._reparameterize_backward(
            torch.ones_like(mu), torch.ones(4), mu, mu.clone(), None, torch.tensor([1, 0], device="cuda")
        )


def test_cpp_reparameterize_backward_checks_the_shape_of_grad_kl():
    if not _compiled_op_available():
        pytest.skip("fastgen._C is not built")
    mu = torch.randn(4, 8)
    with pytest.raises(RuntimeError, match="grad_kl must be contiguous with one value per row"):
        torch.ops.fastgen._reparameterize_backward(
            torch.ones_like(mu), torch.ones(5), mu, mu.clone(), None, torch.tensor([1, 0])
        )


def test_cpp_random_ops_record_their_seed_and_take_one():
    """A CPU forward records (seed, base 0) for its backward; without a seed the CPU kernels refuse
    in one line (fastgen.ops draws a CPU call's seed from torch's CPU generator before calling them)."""
    if not _compiled_op_available():
        pytest.skip("fastgen._C is not built")
    mu = torch.randn(4, 8)
    *_, rng_state = torch.ops.fastgen.reparameterize(mu, mu.clone(), None, 2**40 + 3)
    assert torch.equal(rng_state, torch.tensor([2**40 + 3, 0]))
    _, rng_state = torch.ops.fastgen.corrupt_encode(mu, torch.ones(8, 2), torch.zeros(2), 0.5, 7)
    assert torch.equal(rng_state, torch.tensor([7, 0]))
    with pytest.raises(RuntimeError, match="fastgen::reparameterize on CPU tensors takes an explicit seed"):
        torch.ops.fastgen.reparameterize(mu, mu.clone(), None, None)
    with pytest.raises(RuntimeError, match="rng_state must be the int64 \\(seed, base\\) pair"):
        torch.ops.fastgen._reparameterize_backward(torch.ones_like(mu), torch.ones(4), mu, mu, None, torch.ones(3))
