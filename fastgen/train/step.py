"""The training step the Trainer runs: the model's own ``training_step``, with the run's
precision, optionally compiled, and on a GPU captured as one CUDA graph (``graphs.GraphedStep``).

- ``precision="bfloat16"``: the step runs under ``torch.autocast`` in bfloat16 (matrix products
  and convolutions in bfloat16, reductions and losses in float32; parameters, gradients and
  Adam's state stay float32). Faster where the hardware has bfloat16 units (GPUs, CPUs with
  AMX/AVX-512 BF16); the measured deviation is in docs/training.md.
- ``compile=True``: each network of the model (its child modules with parameters) is compiled
  in place with ``torch.compile`` (``nn.Module.compile``: state dicts keep their names, so
  checkpoints are those of an eager run). The first steps pay the compilation.
- ``cuda_graphs=True`` (the default): on a GPU the step is captured after a few eager steps and
  replayed; a capture that fails warns once (``EagerSteps``) and the run continues eagerly.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import torch

from fastgen.train.graphs import CaptureUnavailable, GraphedStep

__all__ = ["PRECISIONS", "EagerSteps", "step_function"]

PRECISIONS = ("float32", "bfloat16")
Step = Callable[[torch.Tensor], dict[str, torch.Tensor]]


class EagerSteps(UserWarning):
    """Training continues with eager steps (the warning says why the step is not captured)."""


def compile_networks(model: torch.nn.Module) -> None:
    """``torch.compile`` every child network of ``model`` that holds parameters, in place."""
    for child in model.children():
        if any(True for _ in child.parameters()):
            child.compile()


def step_function(
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    *,
    precision: str = "float32",
    compile: bool = False,
    cuda_graphs: bool = True,
) -> Step:
    """``batch -> losses``: the model's step as the options above say."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = next(model.parameters()).device
    if compile:
        compile_networks(model)

    def eager(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if precision == "float32":
            autocast = contextlib.nullcontext()
        else:  # no cast cache: a CUDA graph must not keep casts made at capture time
            autocast = torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
        with autocast:
            return model.training_step(batch, optimizers)

    if not cuda_graphs or device.type != "cuda":
        return eager
    graphed = GraphedStep(model, optimizers, step=eager)
    current: list[Step] = [graphed]

    def step(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        try:
            return current[0](batch)
        except CaptureUnavailable as error:
            message = f"{error}; training continues with eager steps (--no-cuda-graphs hides this)"
            warnings.warn(message, EagerSteps, stacklevel=2)
            current[0] = eager
            return eager(batch)

    return step
