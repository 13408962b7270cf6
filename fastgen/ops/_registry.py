"""Helpers to wire Python-side pieces (fake, autograd) onto the custom ops of fastgen._C."""

from __future__ import annotations

import warnings

import torch

from fastgen import _extension


def compiled_op(name: str):
    """``torch.ops.fastgen.<name>`` when fastgen._C is loaded and has it, else None."""
    if _extension.C is None:
        return None
    if not hasattr(torch.ops.fastgen, name):
        # A stale build: the Python package is newer than the compiled extension.
        warnings.warn(
            f"fastgen._C has no op {name!r}: it was built from older sources; rebuild with "
            "`pip install --no-build-isolation -e .`. The op falls back to its PyTorch reference.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return getattr(torch.ops.fastgen, name)


def refuse_double_backward(qualname: str) -> None:
    """Make differentiating through a backward op an explicit error, not a silent zero."""

    def backward(ctx, *grads):
        raise RuntimeError(f"{qualname} does not support double backward (gradients of gradients)")

    torch.library.register_autograd(qualname, backward, setup_context=lambda ctx, inputs, output: None)
