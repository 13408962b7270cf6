"""reparameterize forward+backward: the reference in eager mode, the plain PyTorch a user would
write (torch's RNG) eager and under torch.compile, and every compiled path, side by side (one
group per shape and dtype), with peak memory in extra_info.

The plain PyTorch providers draw eps with ``torch.randn_like``: what a user's VAE does, and what
Inductor can compile; it cannot compile the bit-exact pure-PyTorch Philox of the reference (it
inlines the ten rounds' shared subexpressions without bound: no result after 15 minutes at
128 x 32).

    pytest bench/bench_reparameterize.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from bench.conftest import compiled_backends, device
from bench.interleave import Comparison
from fastgen.ops import reparameterize
from fastgen.ops.reference.reparameterize import reparameterize as reference

SHAPES = {"4096x1024": (4096, 1024), "vae-128x32": (128, 32)}
SEED = 7


def _torch_rng_reference(mu, logvar):
    """The reference formulas with torch's RNG: the plain PyTorch a user writes."""
    eps = torch.randn_like(mu)
    z = mu + torch.exp(0.5 * logvar) * eps
    kl = -0.5 * torch.sum(1.0 + logvar - mu * mu - torch.exp(logvar), dim=-1)
    return z, kl


_compiled_reference = torch.compile(_torch_rng_reference)


def _providers():
    providers = {
        "reference-eager": lambda mu, lv: reference(mu, lv, None, SEED),
        "eager(torch-rng)": _torch_rng_reference,
        "compile(torch-rng)": _compiled_reference,
    }
    for name in compiled_backends():
        providers[name] = lambda mu, lv, name=name: reparameterize(mu, lv, seed=SEED, backend=name)
    return providers


PROVIDERS = _providers()


def make_step(provider: str, shape: str):
    """One forward+backward of ``provider`` at ``shape``, on inputs of its own."""
    rows, d = SHAPES[shape]
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(rows, d, generator=gen).to(device()).requires_grad_()
    logvar = (0.1 * torch.randn(rows, d, generator=gen)).to(device()).requires_grad_()
    fn = PROVIDERS[provider]

    def step():
        z, kl = fn(mu, logvar)
        (z.sum() + kl.sum()).backward()
        mu.grad = logvar.grad = None

    return step


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_forward_backward(run_pedantic, shape, provider):
    rows, d = SHAPES[shape]
    step = make_step(provider, shape)
    # Sub-millisecond steps (128 x 32): rounds of 20 steps, many rounds, so that neither the timer's
    # jitter nor one scheduler hiccup decides the median.
    large = rows * d > 10**6
    rounds = 3 if provider == "reference-eager" and large else 10 if large else 50
    run_pedantic(
        step,
        group=f"reparameterize {shape} float32 forward+backward",
        rounds=rounds,
        warmup_rounds=2,
        iterations=1 if large else 20,
    )


# The comparisons with plain PyTorch (eager and compiled, torch's RNG) for bench/bench_side_by_side.py.
_PLAIN_AND_COMPILED = {"eager(torch-rng)": 1.0, "compile(torch-rng)": 1.0}
SIDE_BY_SIDE = [
    Comparison("reparameterize 4096x1024", lambda p: make_step(p, "4096x1024"), _PLAIN_AND_COMPILED, 15, 1),
    Comparison("reparameterize 128x32", lambda p: make_step(p, "vae-128x32"), _PLAIN_AND_COMPILED, 40, 20),
]
