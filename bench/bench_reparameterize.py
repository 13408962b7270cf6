"""reparameterize forward+backward: reference eager, torch.compile(reference), and every
compiled path, side by side (one group per shape and dtype).

    pytest bench/bench_reparameterize.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from bench.conftest import compiled_backends, device
from fastgen.ops import reparameterize
from fastgen.ops.reference.reparameterize import reparameterize as reference

SHAPES = {"4096x1024": (4096, 1024), "vae-128x32": (128, 32)}
SEED = 7

_compiled_reference = torch.compile(reference)


def _providers():
    providers = {
        "reference-eager": lambda mu, lv: reference(mu, lv, None, SEED),
        "reference-compile": lambda mu, lv: _compiled_reference(mu, lv, None, SEED),
    }
    for name in compiled_backends():
        providers[name] = lambda mu, lv, name=name: reparameterize(mu, lv, seed=SEED, backend=name)
    return providers


PROVIDERS = _providers()


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_forward_backward(run_pedantic, shape, provider):
    rows, d = SHAPES[shape]
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(rows, d, generator=gen).to(device()).requires_grad_()
    logvar = (0.1 * torch.randn(rows, d, generator=gen)).to(device()).requires_grad_()
    fn = PROVIDERS[provider]

    def step():
        z, kl = fn(mu, logvar)
        (z.sum() + kl.sum()).backward()
        mu.grad = logvar.grad = None

    rounds = 3 if provider == "reference-eager" and rows * d > 10**6 else 10
    run_pedantic(step, group=f"reparameterize {shape} float32 forward+backward", rounds=rounds, warmup_rounds=2)
