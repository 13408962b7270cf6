"""Least-squares GAN losses forward+backward: reference eager, torch.compile(reference), and
every compiled path, side by side, with peak memory in extra_info.

    pytest bench/bench_ls_loss.py --benchmark-only

Sizes: a discriminator's outputs for a batch of 64 and 4096 samples ([N, 1]), and 2**20 scores
(a PatchGAN-like map) where the pass over memory, not the call overhead, dominates.
"""

from __future__ import annotations

import pytest
import torch

from bench.conftest import compiled_backends, device
from bench.interleave import Comparison
from fastgen.ops import ls_discriminator_loss, ls_generator_loss
from fastgen.ops.reference.ls_loss import ls_discriminator_loss as reference_d
from fastgen.ops.reference.ls_loss import ls_generator_loss as reference_g

SIZES = {"64": 64, "4096": 4096, "1048576": 2**20}
A, B, C = -1.0, 1.0, 0.0

_compiled_d, _compiled_g = torch.compile(reference_d), torch.compile(reference_g)


def _providers():
    providers = {
        "reference-eager": (lambda r, f: reference_d(r, f, A, B), lambda f: reference_g(f, C)),
        "reference-compile": (lambda r, f: _compiled_d(r, f, A, B), lambda f: _compiled_g(f, C)),
    }
    for name in compiled_backends():
        providers[name] = (
            lambda r, f, name=name: ls_discriminator_loss(r, f, A, B, backend=name),
            lambda f, name=name: ls_generator_loss(f, C, backend=name),
        )
    return providers


PROVIDERS = _providers()


def make_step(provider: str, size: str):
    """One D and one G loss, forward+backward, of ``provider`` over ``size`` scores each."""
    n = SIZES[size]
    gen = torch.Generator().manual_seed(0)
    d_real = torch.randn(n, 1, generator=gen).to(device()).requires_grad_()
    d_fake = torch.randn(n, 1, generator=gen).to(device()).requires_grad_()
    loss_d, loss_g = PROVIDERS[provider]

    def step():
        loss_d(d_real, d_fake).backward()
        loss_g(d_fake).backward()
        d_real.grad = d_fake.grad = None

    return step


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_discriminator_and_generator_losses(run_pedantic, size, provider):
    n = SIZES[size]
    step = make_step(provider, size)

    # Sub-millisecond steps: rounds of 20 steps, many rounds, so that neither the timer's jitter nor
    # one scheduler hiccup decides the median.
    large = n > 10**5
    run_pedantic(
        step,
        group=f"ls_loss D+G [{size}, 1] float32 forward+backward",
        rounds=30 if large else 50,
        warmup_rounds=3,
        iterations=1 if large else 20,
    )


# The comparisons with the plain losses for bench/bench_side_by_side.py: compiled where the pass
# over memory dominates, eager where the call overhead does.
SIDE_BY_SIDE = [
    Comparison("ls_loss D+G 2^20 scores", lambda p: make_step(p, "1048576"), {"reference-compile": 1.0}, 40, 1),
    Comparison("ls_loss D+G 64 scores", lambda p: make_step(p, "64"), {"reference-eager": 1.0}, 40, 20),
]
