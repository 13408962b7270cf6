"""Helpers to wire Python-side pieces (fake, autograd) onto the custom ops of fastgen._C."""

from __future__ import annotations

import torch

from fastgen import _extension


def compiled_op(name: str):
    """``torch.ops.fastgen.<name>`` when fastgen._C is loaded, else None."""
    if _extension.C is None:
        return None
    return getattr(torch.ops.fastgen, name)


def refuse_double_backward(qualname: str) -> None:
    """Make differentiating through a backward op an explicit error, not a silent zero."""

    def backward(ctx, *grads):
        raise RuntimeError(f"{qualname} does not support double backward (gradients of gradients)")

    torch.library.register_autograd(qualname, backward, setup_context=lambda ctx, inputs, output: None)
