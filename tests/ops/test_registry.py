"""The op registry: every op is recorded once, with what the suites, the benchmarks and the AOT
script enumerate, and an op registered anywhere reaches selftest without being listed."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest
import torch

import fastgen.ops
from fastgen import selftest
from fastgen.ops import _cases, _registry, registry
from fastgen.ops._registry import OpDescription, TritonKernels, register

EXPECTED = {
    "reparameterize",
    "corrupt_encode",
    "tied_autoencoder",
    "ls_discriminator_loss",
    "ls_generator_loss",
    "covariance",
    "shifted_moments",
    "philox_uniform",
    "philox_normal",
}


def test_every_op_is_registered_once_with_its_cases():
    names = [op.name for op in registry()]
    assert sorted(names) == sorted(EXPECTED)
    for op in registry():
        cases = op.cases
        assert cases.name == op.name and cases.op is op
        assert len(cases.shapes) >= 2 and cases.bad, op.name
        assert len(cases.outputs) >= 1 and all(i < len(cases.inputs) for i in cases.differentiable)
        assert op.module.startswith("fastgen.ops.") and op.description.reference is not None


def test_every_public_function_is_exported_by_fastgen_ops():
    for module in {op.module for op in registry()}:
        for name in importlib.import_module(module).__all__:
            assert getattr(fastgen.ops, name) is getattr(importlib.import_module(module), name)
            assert name in fastgen.ops.__all__


def test_every_triton_module_named_has_kernels_for_the_aot_script():
    for op in registry():
        loaders = [loader for loader in op.description.implementations.values() if isinstance(loader, TritonKernels)]
        for loader in loaders:
            spec = importlib.util.find_spec(f"fastgen.ops.triton.{loader.module}")
            assert spec is not None, f"{op.name}: no fastgen/ops/triton/{loader.module}.py"
            source = inspect.getsource(importlib.import_module(f"fastgen.ops.triton.{loader.module}"))
            assert all(name in source for name in ("CAPABILITIES", "AOT_DTYPES", "AOT_SHAPES", "def aot_cases"))


def test_a_name_cannot_be_registered_twice():
    description = registry()[0].description
    with pytest.raises(ValueError, match="registered already"):
        register(description)


@pytest.fixture
def toy_op(monkeypatch):
    """An op of the reference backend only, registered for one test and removed after."""
    monkeypatch.setattr(_registry, "_REGISTERED", dict(_registry._REGISTERED))

    def double(x):
        return 2 * x

    def toy(x, *, backend=None):
        return op(x, backend=backend)

    def make_cases():
        return _cases.OpCases(
            make=lambda shape, generator: [_cases.normal(generator, *shape)],
            call=lambda inputs, backend: toy(*inputs, backend=backend),
            outputs=("y",),
            inputs=("x",),
            shapes=[(1,), (7, 3)],
            strided_shape=(4, 3),
            op_args=lambda inputs: tuple(inputs),
            bad=[],
            differentiable=(0,),
        )

    op = register(
        OpDescription(name="toy_double", reference=double, fake=torch.empty_like, implementations={}, cases=make_cases)
    )
    return op


def test_an_op_registered_anywhere_reaches_selftest(toy_op):
    assert toy_op in registry() and toy_op.module == __name__
    rows = selftest.run([torch.device("cpu")], op_names={"toy_double"}, backend_names={"torch"})
    assert {row.dtype for row in rows} == {"float32", "float64", "float16", "bfloat16"}
    assert all(row.op == "toy_double" and row.status == "ok" for row in rows), selftest.format_table(rows)
