"""Helpers to wire Python-side pieces (fake, autograd) onto the custom ops of fastgen._C and their Triton twins."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

import torch

from fastgen import _extension, backends


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


def wire_forward_backward(
    name: str,
    *,
    reference: Callable,
    fake_forward: Callable,
    fake_backward: Callable,
    autograd: Callable[[str, Callable], None],
    triton_module: str,
) -> dict[str, Callable]:
    """Wire an op whose backward is an op too, and return its implementations by backend.

    ``fastgen::<name>`` / ``fastgen::_<name>_backward`` (from fastgen._C, serving cpp and cuda) get
    their fakes, ``autograd(forward_qualname, backward_op)`` and a double-backward refusal; where
    Triton can run, ``triton_module`` is imported and its ``<name>_triton`` /
    ``<name>_backward_triton`` ops get the same autograd.
    """
    impls = {"torch": reference}
    forward, backward = compiled_op(name), compiled_op(f"_{name}_backward")
    if forward is not None and backward is not None:
        torch.library.register_fake(f"fastgen::{name}")(fake_forward)
        torch.library.register_fake(f"fastgen::_{name}_backward")(fake_backward)
        autograd(f"fastgen::{name}", backward)
        refuse_double_backward(f"fastgen::_{name}_backward")
        impls["cpp"] = impls["cuda"] = forward
    if backends.triton_usable():
        module = importlib.import_module(triton_module)
        autograd(f"fastgen::{name}_triton", getattr(module, f"{name}_backward_triton"))
        refuse_double_backward(f"fastgen::_{name}_backward_triton")
        impls["triton"] = getattr(module, f"{name}_triton")
    return impls
