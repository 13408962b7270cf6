"""Choosing an implementation: argument, context manager, FASTGEN_BACKEND, auto."""

import pytest
import torch

import fastgen
from fastgen import backends
from fastgen.ops import reparameterize

IMPLS = {"torch": lambda: "torch", "cpp": lambda: "cpp", "cuda": lambda: "cuda", "triton": lambda: "triton"}


def _pick(explicit=None, device="cpu", reasons=None):
    return backends.select("op", IMPLS, torch.device(device), explicit, reasons)()


def test_torch_is_always_available():
    assert "torch" in fastgen.available_backends()


def test_auto_prefers_cpp_on_cpu_when_built():
    expected = "cpp" if "cpp" in fastgen.available_backends() else "torch"
    assert _pick() == expected


def test_explicit_context_and_environment(monkeypatch):
    assert _pick("torch") == "torch"
    with fastgen.backend("torch"):
        assert _pick() == "torch"
        assert _pick("auto") in ("cpp", "torch")  # an explicit argument beats the context
    monkeypatch.setenv("FASTGEN_BACKEND", "torch")
    assert _pick() == "torch"
    monkeypatch.setenv("FASTGEN_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="FASTGEN_BACKEND must be one of"):
        _pick()


def test_contexts_nest_and_restore():
    with fastgen.backend("torch"):
        with fastgen.backend("auto"):
            assert backends.requested() == "auto"
        assert backends.requested() == "torch"
    assert backends.requested() in ("auto", *backends.NAMES)


def test_op_specific_refusal_falls_through_in_auto_and_errors_when_explicit():
    refuse_cpp = lambda name: ["no cpp kernel for this dtype"] if name == "cpp" else []
    assert _pick(reasons=refuse_cpp) == "torch"
    if "cpp" in fastgen.available_backends():
        with pytest.raises(RuntimeError, match="backend 'cpp' cannot run these inputs: no cpp kernel for this dtype"):
            _pick("cpp", reasons=refuse_cpp)


def test_cpu_tensors_refuse_the_cuda_backend_with_reasons():
    with pytest.raises(RuntimeError, match="cuda"):
        _pick("cuda")


def test_missing_implementation_is_named():
    with pytest.raises(RuntimeError, match="op has no triton implementation"):
        backends.select("op", {"torch": IMPLS["torch"]}, torch.device("cpu"), "triton")


def test_context_manager_reaches_the_ops():
    mu = torch.randn(3, 4)
    with fastgen.backend("torch"):
        z_torch, _ = reparameterize(mu, mu, seed=1)
    z_ref, _ = reparameterize(mu, mu, seed=1, backend="torch")
    assert torch.equal(z_torch, z_ref)
