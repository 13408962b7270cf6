"""The Philox draws (philox_uniform / philox_normal) of 2**20 consecutive offsets: the pure-PyTorch
reference, torch's own RNG (``torch.rand`` / ``torch.randn``: what a user calls, a different
stream) and every compiled path, side by side, with peak memory in extra_info.

    pytest bench/bench_random.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from bench.conftest import compiled_backends, device
from fastgen.ops import philox, philox_normal, philox_uniform

COUNT = 2**20
SEED = 7


def _providers():
    providers = {
        "reference-eager": {"uniform": lambda o: philox.uniform(SEED, o), "normal": lambda o: philox.normal(SEED, o)},
        "eager(torch-rng)": {
            "uniform": lambda o: torch.rand(o.shape, device=o.device),
            "normal": lambda o: torch.randn(o.shape, device=o.device),
        },
    }
    for name in compiled_backends():
        providers[name] = {
            "uniform": lambda o, name=name: philox_uniform(o, SEED, backend=name),
            "normal": lambda o, name=name: philox_normal(o, SEED, backend=name),
        }
    return providers


PROVIDERS = _providers()


@pytest.mark.parametrize("kind", ["uniform", "normal"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_draw(run_pedantic, kind, provider):
    offsets = torch.arange(COUNT, device=device())
    fn = PROVIDERS[provider][kind]
    slow = provider == "reference-eager"  # seconds per call: once, no warm-up
    run_pedantic(
        lambda: fn(offsets),
        group=f"philox {kind} {COUNT} float32",
        rounds=1 if slow else 10,
        warmup_rounds=0 if slow else 1,
    )
