"""One description per op; from it alone, the custom ops' fakes and autograd, the reasons a backend
refuses some inputs, the dispatch table, and the op's entry in the registry.

Registering an op records it (``registry()``): everything that goes over every op (`fastgen
selftest`, the contract suite tests/ops/test_contract.py, bench/bench_side_by_side.py,
scripts/triton_aot.py, scripts/gpu_check.sh through bench/ops.py) enumerates the registry
instead of keeping a list of its own. ``fastgen.ops`` imports every op module, so that importing
it registers every op.

An op ``name`` has a pure-PyTorch reference and, per backend, a forward custom op named by
``backends.op_name(backend, name)`` (``fastgen::<name>`` in fastgen._C for cpp and cuda,
``fastgen::<name>_triton`` for Triton) and, when its backward is an op too, a backward custom op
named by ``backends.op_name(backend, f"_{name}_backward")``. Each backend states what its kernels
take in a ``Capabilities``: for fastgen._C, one of the dtype tables of ``fastgen/ops/compiled.py``
chosen in the description; for Triton, a
``CAPABILITIES`` constant at the top of each ``fastgen/ops/triton/<module>.py``, named in the
description by ``TritonKernels("<module>")``.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from fastgen import backends


@dataclass(frozen=True)
class Capabilities:
    """What one backend's kernels of one op take.

    ``devices``: the device types of their tensors. ``compute``: each input dtype they take,
    mapped to the dtype they compute in. Every tensor argument of a call has one dtype.
    """

    devices: tuple[str, ...]
    compute: Mapping[torch.dtype, torch.dtype]

    def refusals(self, backend: str, device: torch.device, dtypes: set[torch.dtype]) -> list[str]:
        found = []
        device_refusal = backends.device_reason(backend, device, self.devices)
        if device_refusal:
            found.append(device_refusal)
        if len(dtypes) > 1:
            found.append(f"{backend} takes its tensors in one dtype (got {_names(dtypes)})")
        elif not all(dtype in self.compute for dtype in dtypes):
            taken = ", ".join(f"{_names([d])} (computed in {_names([c])})" for d, c in self.compute.items())
            found.append(f"{backend} takes {taken}; got {_names(dtypes)}")
        return found


@dataclass(frozen=True)
class TritonKernels:
    """An op's Triton implementation: the module ``fastgen/ops/triton/<module>.py``, imported when
    loaded (only where Triton can run), whose ``CAPABILITIES`` say what its kernels take.
    scripts/triton_aot.py compiles the modules named here."""

    module: str

    def __call__(self) -> Capabilities:
        return importlib.import_module(f"fastgen.ops.triton.{self.module}").CAPABILITIES


def _names(dtypes) -> str:
    return ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes))


@dataclass(frozen=True)
class OpDescription:
    """An op, declared once.

    name: the op's name; its custom ops are named after it (see the module docstring).
    reference: the specification, a pure-PyTorch function with the custom ops' signature.
    fake: the forward custom op's fake (meta) implementation, for torch.compile.
    implementations: backend -> a loader returning that backend's ``Capabilities``; it is called
        only where the backend can run in this process, and imports the backend's kernels (so
        that their custom ops exist): ``compiled.implementations(...)`` for fastgen._C's (loaded
        with the extension), ``TritonKernels("<module>")`` for Triton's.
    setup_context, backward: the autograd formula (``torch.library.register_autograd``);
        ``backward(ctx, backward_op, *grads)`` gets the backend's backward op, or None when
        ``backward_fake`` is None (then ``backward`` is a differentiable PyTorch function).
        None for an op without gradients. fastgen._C may register the same formula in C++ for
        its op (``csrc/<op>/<op>_autograd.cpp``); then only the Triton op gets this one.
    backward_fake: the backward op's fake; given when the backward is an op of its own.
    double_backward: True when differentiating the backward gives the reference's second
        derivatives (tested); False refuses it with an error naming the op (the backward op
        then gets an autograd formula that raises).
    result: the public value from the custom op's outputs (the reference returns it directly).
    cases: returns the op's test inputs and tolerances (``fastgen.ops._cases.OpCases``), made
        when a suite asks for them.
    """

    name: str
    reference: Callable
    fake: Callable
    implementations: Mapping[str, Callable[[], Capabilities]]
    setup_context: Callable | None = None
    backward: Callable | None = None
    backward_fake: Callable | None = None
    double_backward: bool = False
    result: Callable | None = None
    cases: Callable | None = None

    def __post_init__(self):
        if (self.setup_context is None) != (self.backward is None):
            raise ValueError(f"{self.name}: give both setup_context and backward, or neither")
        if self.backward is not None and not self.double_backward and self.backward_fake is None:
            raise ValueError(f"{self.name}: refusing double backward needs a backward op (backward_fake)")


@dataclass
class Op:
    """A registered op: its dispatch table, what each backend takes, and its custom ops.
    ``module`` is the module that registered it (``fastgen.ops.<module>``)."""

    description: OpDescription
    module: str = ""
    implementations: dict[str, Callable] = field(default_factory=dict)
    capabilities: dict[str, Capabilities] = field(default_factory=dict)
    custom_ops: dict[str, torch._ops.OpOverload] = field(default_factory=dict)
    backward_ops: dict[str, torch._ops.OpOverload] = field(default_factory=dict)
    # (backend asked for, device type, whether Triton is interpreted, the tensors' dtypes) -> the
    # implementation ``select`` chose for it: everything a refusal depends on, so that a call
    # pays for one lookup instead of re-deriving the choice (bench/profile_dispatch.py).
    chosen: dict[tuple, Callable] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.description.name

    @property
    def cases(self):
        """The op's ``OpCases``, with its name and this op filled in."""
        if self.description.cases is None:
            raise ValueError(f"{self.name} has no test cases: give its OpDescription cases=")
        return dataclasses.replace(self.description.cases(), name=self.name, op=self)

    def refusals(self, backend: str, args: tuple) -> list[str]:
        """Why ``backend`` cannot run a call with these arguments (empty when it can)."""
        if backend not in self.capabilities:
            return []
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        return self.capabilities[backend].refusals(backend, tensors[0].device, {t.dtype for t in tensors})

    def __call__(self, *args, backend: str | None = None):
        """Run the op on the backend chosen for these arguments (see ``fastgen.backends.select``)."""
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        device = tensors[0].device
        choice = backends.requested(backend)
        key = (choice, device.type, backends.triton_interpreted(), *[t.dtype for t in tensors])
        impl = self.chosen.get(key)
        if impl is None:
            impl = backends.select(self.name, self.implementations, device, choice, lambda b: self.refusals(b, args))
            self.chosen[key] = impl
        return impl(*args)


def _custom_op(qualname: str) -> torch._ops.OpOverload | None:
    namespace, name = qualname.split("::")
    packet = getattr(getattr(torch.ops, namespace), name, None)
    return None if packet is None else packet.default


def _find(backend: str, description: OpDescription):
    """The backend's forward and backward custom ops, or None (with a warning) when missing."""
    forward_name = backends.op_name(backend, description.name)
    backward_name = backends.op_name(backend, f"_{description.name}_backward")
    forward = _custom_op(forward_name)
    backward = _custom_op(backward_name) if description.backward_fake is not None else None
    if forward is None or (description.backward_fake is not None and backward is None):
        missing = backward_name if forward is not None else forward_name
        warnings.warn(
            f"{backend} has no op {missing}: fastgen._C was built from older sources; rebuild it with "
            "`pip install --no-build-isolation -e .`. The op runs on its other backends.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return forward, backward


def _has_compiled_autograd(backend: str, forward) -> bool:
    """Whether fastgen._C registers the op's autograd in C++ (csrc/common/autograd.h): then its
    formula and its double-backward refusal are there, and nothing is registered from Python.
    (A Triton op has an Autograd kernel from torch.library.custom_op itself, which raises until a
    formula is registered: only fastgen._C's ops are asked.)"""
    return backend in backends.EXTENSION and torch._C._dispatch_has_kernel_for_dispatch_key(forward.name(), "Autograd")


def _register_autograd(description: OpDescription, forward, backward_op) -> None:
    def backward(ctx, *grads):
        return description.backward(ctx, backward_op, *grads)

    torch.library.register_autograd(forward, backward, setup_context=description.setup_context)


def _refuse_double_backward(op_name: str, backward_op) -> None:
    """Differentiating through the backward op is an error naming the op, never a silent zero."""

    def backward(ctx, *grads):
        raise RuntimeError(
            f"{op_name} does not support double backward (gradients of gradients) on this backend; "
            "use backend='torch' for that"
        )

    torch.library.register_autograd(backward_op, backward, setup_context=lambda ctx, inputs, output: None)


# name -> op, in the order the ops were registered (see ``registry``).
_REGISTERED: dict[str, Op] = {}


def registry() -> tuple[Op, ...]:
    """Every op of fastgen, registered or not on a backend of this process."""
    import fastgen.ops  # noqa: F401  (importing it registers every op)

    return tuple(_REGISTERED.values())


def register(description: OpDescription) -> Op:
    """Give the description's custom ops their fakes and autograd, record the op in the registry
    and return the dispatchable op. Called at the top level of the op's module."""
    if description.name in _REGISTERED:
        raise ValueError(f"an op named {description.name} is registered already")
    module = sys._getframe(1).f_globals["__name__"]
    op = Op(description, module=module, implementations={"torch": description.reference})
    _REGISTERED[description.name] = op
    registered = set()
    for backend, load in description.implementations.items():
        if backends.unavailable_reason(backend) is not None:
            continue
        capabilities = load()
        found = _find(backend, description)
        if found is None:
            continue
        forward, backward_op = found
        if forward not in registered:  # cpp and cuda share fastgen._C's op
            registered.add(forward)
            torch.library.register_fake(forward)(description.fake)
            compiled_autograd = _has_compiled_autograd(backend, forward)
            if backward_op is not None:
                torch.library.register_fake(backward_op)(description.backward_fake)
                if not description.double_backward and not compiled_autograd:
                    _refuse_double_backward(f"fastgen::{description.name}", backward_op)
            if description.backward is not None and not compiled_autograd:
                _register_autograd(description, forward, backward_op)
        op.capabilities[backend] = capabilities
        op.custom_ops[backend] = forward
        if backward_op is not None:
            op.backward_ops[backend] = backward_op
        op.implementations[backend] = forward if description.result is None else _public(forward, description.result)
    return op


def _public(forward, result: Callable) -> Callable:
    return lambda *args: result(forward(*args))
