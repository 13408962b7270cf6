"""Which implementations of an op exist here, and choosing one.

Every op has up to four implementations:

- ``torch``: the pure-PyTorch reference (``fastgen.ops.reference``), also the CPU fallback;
- ``cpp``: the C++ CPU kernels of ``fastgen._C``;
- ``cuda``: the CUDA C++ kernels of ``fastgen._C``;
- ``triton``: Triton kernels (on CUDA tensors, or on CPU tensors under ``TRITON_INTERPRET=1``).

A call picks one by, in order: its ``backend=`` argument, the innermost ``with
fastgen.backend(name):`` block, the ``FASTGEN_BACKEND`` environment variable, else ``auto``:
the first implementation in the op's preference order (CUDA tensors: cuda, triton, torch;
CPU tensors: cpp, torch) that supports the inputs. Asking for an implementation that cannot
run the inputs is an error that says why, for every implementation.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import os
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch

from fastgen import _extension

NAMES = ("torch", "cpp", "cuda", "triton")
EXTENSION = ("cpp", "cuda")  # the backends fastgen._C serves, from one op per name
AUTO = "auto"
GPU_ORDER = ("cuda", "triton", "torch")
CPU_ORDER = ("cpp", "torch")

_selected: contextvars.ContextVar[str | None] = contextvars.ContextVar("fastgen_backend", default=None)


def _validate(name: str, source: str) -> str:
    if name not in (*NAMES, AUTO):
        raise ValueError(f"{source} must be one of {', '.join((*NAMES, AUTO))}; got {name!r}")
    return name


@contextlib.contextmanager
def backend(name: str) -> Iterator[None]:
    """Run the ops called inside the block on implementation ``name`` (or ``"auto"``)."""
    token = _selected.set(_validate(name, "backend"))
    try:
        yield
    finally:
        _selected.reset(token)


def requested(explicit: str | None = None) -> str:
    """The implementation asked for: argument, then context, then FASTGEN_BACKEND, then auto."""
    if explicit is not None:
        return _validate(explicit, "backend")
    if _selected.get() is not None:
        return _selected.get()
    env = os.environ.get("FASTGEN_BACKEND")
    return _validate(env, "FASTGEN_BACKEND") if env else AUTO


# Facts of this process, fixed at import (and so plain constants for torch.compile to trace).
_TRITON_FOUND = importlib.util.find_spec("triton") is not None
_CUDA_KERNELS = bool(_extension.compiled_info().get("cuda"))


def triton_importable() -> bool:
    return _TRITON_FOUND


def triton_interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def triton_usable() -> bool:
    """Whether Triton kernels can run here. Ops import their Triton modules only then, so that a
    CPU-only process does not pay for importing triton (about a second)."""
    return unavailable_reason("triton") is None


def cuda_compiled() -> bool:
    return _CUDA_KERNELS


def unavailable_reason(name: str) -> str | None:
    """Why implementation ``name`` cannot run in this process at all, or None if it can."""
    if name == "torch":
        return None
    if name in ("cpp", "cuda") and _extension.C is None:
        return _extension.load_error
    if name == "cuda" and not cuda_compiled():
        return "fastgen._C was built without CUDA kernels (FASTGEN_CUDA=0 or no nvcc at build time)"
    if name == "cuda" and not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    if name == "triton":
        if not triton_importable():
            return "triton is not installed"
        if not torch.cuda.is_available() and not triton_interpreted():
            return "no CUDA GPU is visible (set TRITON_INTERPRET=1 to run Triton on the CPU)"
    return None


def available_backends() -> tuple[str, ...]:
    """The implementations that can run in this process."""
    return tuple(name for name in NAMES if unavailable_reason(name) is None)


def device_reason(name: str, device: torch.device, devices: Sequence[str]) -> str | None:
    """Why implementation ``name``, whose kernels take tensors on ``devices``, cannot take tensors
    on ``device``, or None. The Triton interpreter runs Triton kernels on CPU tensors."""
    if device.type in devices or (name == "triton" and device.type == "cpu" and triton_interpreted()):
        return None
    interpreter = " (or CPU tensors under TRITON_INTERPRET=1)" if name == "triton" else ""
    return f"{name} runs on {' or '.join(devices)} tensors{interpreter}, got {device.type} tensors"


def op_name(name: str, op: str) -> str:
    """The custom op through which implementation ``name`` runs ``op``: fastgen._C serves cpp and
    cuda from one op per name (the dispatcher picks the CPU or CUDA kernel); a Triton kernel is an
    op of its own."""
    return f"fastgen::{op}_triton" if name == "triton" else f"fastgen::{op}"


Reasons = Callable[[str], Sequence[str]]


def select(
    op: str,
    implementations: Mapping[str, Callable],
    device: torch.device,
    explicit: str | None = None,
    reasons: Reasons | None = None,
) -> Callable:
    """Pick the implementation of ``op`` that runs inputs on ``device``.

    ``reasons(name)`` returns the reasons why ``name`` cannot run these inputs (a device or
    dtype its kernels do not take, see ``fastgen.ops._registry.Capabilities``); empty when it can.
    """
    choice = requested(explicit)

    def refusals(name: str) -> list[str]:
        unavailable = unavailable_reason(name)
        if unavailable:
            return [unavailable]
        if name not in implementations:
            return [f"{op} has no {name} implementation"]
        return list(reasons(name)) if reasons is not None else []

    if choice != AUTO:
        why = refusals(choice)
        if why:
            raise RuntimeError(f"{op}: backend {choice!r} cannot run these inputs: {'; '.join(why)}")
        return implementations[choice]
    order = GPU_ORDER if device.type == "cuda" else CPU_ORDER
    if device.type not in ("cpu", "cuda"):
        order = ("torch",)
    for name in order:
        if not refusals(name):
            return implementations[name]
    report = "; ".join(f"{name}: {', '.join(refusals(name))}" for name in NAMES)
    raise RuntimeError(f"{op}: no backend can run these inputs ({report})")
