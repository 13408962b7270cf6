"""What every Triton launch of fastgen goes through: one ``Launch`` (kernel, grid, arguments,
block constexprs) planned from the tensors, then run on the tensors' GPU.

Triton launches on the *current* CUDA device and its current stream, so a launch runs under
``torch.cuda.device(tensor.device)``: tensors on ``cuda:1`` are then computed on ``cuda:1`` and
on that device's current stream. Planning is separate from running so that
``scripts/triton_aot.py`` compiles, ahead of time and without a GPU, exactly the configurations
the launchers pick (it plans on ``meta`` tensors and never runs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.library import wrap_triton


@dataclass(frozen=True)
class Launch:
    kernel: Any  # a triton.JITFunction
    grid: tuple[int, ...]
    args: tuple  # the runtime arguments in the kernel's order: tensors, ints, floats
    constexprs: dict[str, Any] = field(default_factory=dict)

    def run(self) -> None:
        device = next(a.device for a in self.args if isinstance(a, torch.Tensor))
        with on_device(device):
            wrap_triton(self.kernel)[self.grid](*self.args, **self.constexprs)


def on_device(device: torch.device) -> contextlib.AbstractContextManager:
    """Make ``device`` the current CUDA device for a launch (nothing to do for CPU tensors,
    which only the interpreter runs, or when it is current already: the usual case, and
    switching devices costs host time that a small op's launch is made of)."""
    if device.type != "cuda" or device.index is None or device.index == torch.cuda.current_device():
        return contextlib.nullcontext()
    return torch.cuda.device(device)


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A tensor with a shape and dtype but no data, for planning launches ahead of time."""
    return torch.empty(shape, dtype=dtype, device="meta")


AotCases = Iterator[tuple[str, Launch]]  # (a label naming the shape, the launch planned for it)
