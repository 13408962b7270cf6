"""tied_autoencoder forward+backward (a tied-weight DAE's encoder and decoder, x as data): the
reference eager, the plain PyTorch autoencoder (torch's RNG, autograd summing the tied weight's two
gradients) eager and under torch.compile, and every compiled path, side by side.

    pytest bench/bench_tied_autoencoder.py --benchmark-only

Shapes: the DAE recipe (``fastgen train dae``: batch 20, 784 visible -> 500 hidden), where the
tied weight's gradients are outer products bound by memory and one GEMM over 2N rows saves most
(fastgen/ops/tied_autoencoder.py), and a large batch (256, 784 -> 1024), where the GEMMs' FLOPs
dominate and the saving is the sum of two W-sized matrices. Triton is timed on GPUs only
(bench/conftest.py).
"""

from __future__ import annotations

import pytest
import torch

from bench.conftest import compiled_backends, device
from bench.interleave import Comparison
from fastgen.ops import tied_autoencoder
from fastgen.ops.reference.tied_autoencoder import tied_autoencoder as reference

SHAPES = {"20x784->500": (20, 784, 500), "256x784->1024": (256, 784, 1024)}
CORRUPTION = 0.3
SEED = 7


def _unfused(x, weight, hidden_bias, visible_bias):
    """The plain PyTorch tied autoencoder: mask, GEMM, sigmoid, GEMM with W^T; torch's RNG."""
    keep = torch.rand_like(x) >= CORRUPTION
    h = torch.sigmoid((x * keep) @ weight + hidden_bias)
    return h @ weight.t() + visible_bias


_compiled_unfused = torch.compile(_unfused)


def _providers():
    providers = {
        "reference-eager": lambda *tensors: reference(*tensors, CORRUPTION, SEED),
        "eager(torch-rng)": _unfused,
        "compile(torch-rng)": _compiled_unfused,
    }
    for name in compiled_backends():
        providers[name] = lambda *tensors, name=name: tied_autoencoder(
            *tensors, corruption=CORRUPTION, seed=SEED, backend=name
        )
    return providers


PROVIDERS = _providers()


def make_step(provider: str, shape: str):
    """One forward+backward of ``provider`` at ``shape`` (x is data: no grad_x), on its own inputs."""
    n, n_visible, n_hidden = SHAPES[shape]
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, n_visible, generator=gen).to(device())
    weight = (0.05 * torch.randn(n_visible, n_hidden, generator=gen)).to(device()).requires_grad_()
    hidden_bias = torch.zeros(n_hidden).to(device()).requires_grad_()
    visible_bias = torch.zeros(n_visible).to(device()).requires_grad_()
    grad_logits = torch.randn(n, n_visible, generator=gen).to(device())
    fn = PROVIDERS[provider]

    def step():
        fn(x, weight, hidden_bias, visible_bias).backward(grad_logits)
        weight.grad = hidden_bias.grad = visible_bias.grad = None

    return step


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_forward_backward(run_pedantic, shape, provider):
    rounds = 10 if provider == "reference-eager" else 40
    run_pedantic(make_step(provider, shape), group=f"tied_autoencoder {shape} float32 forward+backward", rounds=rounds)


# The comparisons with plain PyTorch (eager, torch's RNG) for bench/bench_side_by_side.py.
SIDE_BY_SIDE = [
    Comparison(
        f"tied_autoencoder {shape}, x data",
        lambda p, shape=shape: make_step(p, shape),
        {"eager(torch-rng)": 1.0},
        rounds,
        iterations,
    )
    for shape, rounds, iterations in (("20x784->500", 40, 20), ("256x784->1024", 30, 1))
]
