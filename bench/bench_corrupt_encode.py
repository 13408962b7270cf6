"""corrupt_encode forward+backward: the reference eager, the plain unfused PyTorch encoder (torch's
RNG) eager and under torch.compile, and every compiled path, side by side (one group per shape and dtype), with
peak memory in extra_info.

The reference draws its mask with the pure-PyTorch Philox (bit-exact with the kernels), which
Inductor cannot compile (it inlines the ten rounds' shared subexpressions without bound: no
result after 15 minutes), so the unfused baselines draw the mask with torch.rand_like instead:
what a plain PyTorch DAE does, and what torch.compile can fuse.

    pytest bench/bench_corrupt_encode.py --benchmark-only

Shapes: the DAE on MNIST (batch 256, 784 visible -> 1024 hidden, the issue's bar) and a larger
batch (1024). Triton is timed on GPUs only (bench/conftest.py): the CPU interpreter is a
correctness tool.
"""

from __future__ import annotations

import pytest
import torch

from bench.conftest import compiled_backends, device
from bench.interleave import Comparison
from fastgen.ops import corrupt_encode
from fastgen.ops.reference.corrupt_encode import corrupt_encode as reference

SHAPES = {"256x784->1024": (256, 784, 1024), "1024x784->1024": (1024, 784, 1024)}
CORRUPTION = 0.3
SEED = 7


def _unfused(x, weight, bias):
    """The plain PyTorch encoder: mask, GEMM and sigmoid as separate ops, torch's RNG."""
    keep = torch.rand_like(x) >= CORRUPTION
    return torch.sigmoid((x * keep) @ weight + bias)


_compiled_unfused = torch.compile(_unfused)


def _providers():
    providers = {
        "reference-eager": lambda x, w, b: reference(x, w, b, CORRUPTION, SEED),
        "eager(torch-rng)": _unfused,
        "compile(torch-rng)": _compiled_unfused,
    }
    for name in compiled_backends():
        providers[name] = lambda x, w, b, name=name: corrupt_encode(
            x, w, b, corruption=CORRUPTION, seed=SEED, backend=name
        )
    return providers


PROVIDERS = _providers()


def make_step(provider: str, shape: str, x_role: str):
    """One forward+backward of ``provider`` at ``shape``, on inputs of its own; x_role "x-grad":
    x requires grad (the op contract's case), "x-data": x is data, as a DAE's input is, and
    neither side computes grad_x."""
    n, n_visible, n_hidden = SHAPES[shape]
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, n_visible, generator=gen).to(device()).requires_grad_(x_role == "x-grad")
    weight = (0.05 * torch.randn(n_visible, n_hidden, generator=gen)).to(device()).requires_grad_()
    bias = torch.zeros(n_hidden).to(device()).requires_grad_()
    grad_h = torch.randn(n, n_hidden, generator=gen).to(device())
    fn = PROVIDERS[provider]

    def step():
        fn(x, weight, bias).backward(grad_h)
        x.grad = weight.grad = bias.grad = None

    return step


@pytest.mark.parametrize("x_role", ["x-grad", "x-data"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_forward_backward(run_pedantic, shape, provider, x_role):
    n = SHAPES[shape][0]
    step = make_step(provider, shape, x_role)
    # GEMM-bound steps of 5-30 ms whose eager baseline varies by 10-30 % from round to round
    # (MKL's threads and the allocator): 40 rounds, so that the medians hold still between runs.
    rounds = 3 if provider == "reference-eager" and n > 256 else 10 if provider == "reference-eager" else 40
    group = f"corrupt_encode {shape} float32 forward+backward" + (", x data" if x_role == "x-data" else "")
    run_pedantic(step, group=group, rounds=rounds, warmup_rounds=2)


# The comparisons with plain PyTorch (eager, torch's RNG) for bench/bench_side_by_side.py.
SIDE_BY_SIDE = [
    Comparison(
        f"corrupt_encode {shape}" + (", x data" if x_role == "x-data" else ""),
        lambda p, shape=shape, x_role=x_role: make_step(p, shape, x_role),
        {"eager(torch-rng)": 1.0},
        rounds,
        1,
    )
    for shape, rounds in (("256x784->1024", 60), ("1024x784->1024", 30))
    for x_role in ("x-grad", "x-data")
]
