"""Training throughput of each model: the fused ops (backend auto) vs the same model on the
reference ops (backend "torch"), side by side in one group per model. A round is STEPS_PER_ROUND
training steps; steps/s = STEPS_PER_ROUND / the round's time (in ``extra_info`` too).

    pytest bench/bench_train.py --benchmark-only --benchmark-columns=mean,stddev,rounds
"""

from __future__ import annotations

import copy

import pytest
import torch

import fastgen
from bench.conftest import device
from fastgen.train.recipes import RECIPES, build_model, defaults_for

STEPS_PER_ROUND = 5
MNIST_SHAPE = (1, 28, 28)
PROVIDERS = {"fused": "auto", "reference": "torch"}

_models: dict[str, torch.nn.Module] = {}


def _model(name: str) -> torch.nn.Module:
    """One initial model per name (the CLI's recipe on MNIST-shaped data), copied for each provider."""
    if name not in _models:
        torch.manual_seed(0)
        _models[name] = build_model(name, MNIST_SHAPE)
    return copy.deepcopy(_models[name]).to(device())


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("name", list(RECIPES))
def test_training_steps(run_pedantic, benchmark, name, provider):
    model = _model(name)
    optimizers = model.make_optimizers()
    batch_size = defaults_for(name, MNIST_SHAPE).batch_size
    batches = torch.rand(STEPS_PER_ROUND, batch_size, *MNIST_SHAPE, generator=torch.Generator().manual_seed(1))
    batches = batches.to(device())

    def steps():
        with fastgen.backend(PROVIDERS[provider]):
            for batch in batches:
                model.training_step(batch, optimizers)

    group = f"train {name} batch {batch_size} x{STEPS_PER_ROUND} steps"
    run_pedantic(steps, group=group, rounds=8, warmup_rounds=2, memory=False)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["steps_per_second"] = round(STEPS_PER_ROUND / benchmark.stats.stats.mean, 2)
