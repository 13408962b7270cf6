"""Test configuration: Triton runs under its interpreter on CPU tensors when no GPU is visible.

TRITON_INTERPRET must be set before triton is first imported, hence here, at collection start.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

import fastgen  # noqa: E402
from fastgen import backends  # noqa: E402


def pytest_report_header(config):
    return f"fastgen backends available: {', '.join(fastgen.available_backends())}"


def device_for(backend: str) -> torch.device:
    """Where a backend's tests put their tensors: CUDA for cuda (and triton with a GPU)."""
    if backend == "cuda" or (backend == "triton" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _backend_param(name: str):
    """Tests that put tensors on a GPU carry the ``cuda`` mark, so that ``pytest -m cuda`` selects
    them (they skip where the backend cannot run)."""
    on_gpu = name == "cuda" or (name == "triton" and torch.cuda.is_available())
    return pytest.param(name, marks=[pytest.mark.cuda] if on_gpu else [])


@pytest.fixture(params=[_backend_param(name) for name in backends.NAMES])
def backend_name(request):
    """Every implementation; skipped, with the reason, where it cannot run in this process."""
    reason = backends.unavailable_reason(request.param)
    if reason is not None:
        pytest.skip(f"{request.param}: {reason}")
    return request.param
