"""fastgen.train.step: the switches --precision and --compile change how the step runs, not what
it trains; bad values are refused in one line before anything is written."""

from __future__ import annotations

import pytest
import torch

from fastgen import GAN
from fastgen.train import SettingError
from fastgen.train import run as train
from fastgen.train.step import step_function


def _losses(precision: str, compile: bool = False, steps: int = 5) -> list[dict[str, float]]:
    torch.manual_seed(0)
    model = GAN((2,), latent_dim=4, hidden=16)
    step = step_function(model, model.make_optimizers(), precision=precision, compile=compile, cuda_graphs=False)
    data = torch.rand(steps, 32, 2, generator=torch.Generator().manual_seed(1))
    return [{k: float(v) for k, v in step(batch).items()} for batch in data]


def test_bfloat16_step_stays_near_float32_and_returns_float32_losses():
    torch.manual_seed(0)
    model = GAN((2,), latent_dim=4, hidden=16)
    losses = step_function(model, model.make_optimizers(), precision="bfloat16", cuda_graphs=False)(torch.rand(8, 2))
    assert all(v.dtype == torch.float32 for v in losses.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # bfloat16 keeps 8 bits of mantissa: products carry ~0.4 % relative error, and the losses of
    # the first steps (before the trajectories part) agree to a few percent
    for low, full in zip(_losses("bfloat16"), _losses("float32"), strict=True):
        for key in full:
            assert low[key] == pytest.approx(full[key], rel=0.05)


@pytest.mark.slow
def test_compiled_step_trains_as_the_eager_one():
    # Inductor fuses the elementwise tails and may reorder float32 sums: agreement to 1e-4
    for compiled, eager in zip(_losses("float32", compile=True, steps=3), _losses("float32", steps=3), strict=True):
        for key in eager:
            assert compiled[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-5)


def test_a_wrong_precision_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SettingError, match="precision") as error:
        train("gan", "gaussians", tmp_path / "run", steps=2, precision="half")
    assert "expected one of float32, bfloat16, got 'half'" in str(error.value)
    assert not (tmp_path / "run").exists()
