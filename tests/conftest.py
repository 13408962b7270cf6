"""Test configuration: Triton runs under its interpreter on CPU tensors when no GPU is visible.

TRITON_INTERPRET must be set before triton is first imported, hence here, at collection start.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

import fastgen  # noqa: E402


def pytest_report_header(config):
    return f"fastgen backends available: {', '.join(fastgen.available_backends())}"


@pytest.fixture(params=fastgen.available_backends())
def backend_name(request):
    """Every implementation that can run in this process."""
    return request.param


def device_for(backend: str) -> torch.device:
    """Where a backend's tests put their tensors: CUDA for cuda (and triton with a GPU)."""
    if backend == "cuda" or (backend == "triton" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")
