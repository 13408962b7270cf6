"""build_info, `fastgen info`, and the fallback when fastgen._C cannot be loaded."""

import json
import os
import subprocess
import sys

import pytest
import torch

import fastgen
from fastgen import _extension


def test_build_info_fields():
    info = fastgen.build_info()
    for key in ("fastgen", "torch", "cpp", "cuda", "cuda_archs", "triton", "gpu", "available_backends"):
        assert key in info
    assert info["fastgen"] == fastgen.__version__
    assert "torch" in info["available_backends"]


def test_cli_info_json():
    out = subprocess.run(
        [sys.executable, "-m", "fastgen", "info", "--json"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out)["torch"]


def test_import_without_extension_warns_once_and_falls_back():
    # sys.modules[name] = None makes `from fastgen import _C` raise ImportError, as a failed build would.
    script = """
import sys, warnings
sys.modules["fastgen._C"] = None
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fastgen
    import fastgen.ops
import torch
z, kl = fastgen.ops.reparameterize(torch.zeros(2, 3), torch.zeros(2, 3), seed=0)
messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
print(len([m for m in messages if "falls back to its PyTorch reference" in m]))
print(",".join(fastgen.available_backends()))
"""
    env = dict(os.environ, FASTGEN_BACKEND="")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout
    count, available = out.split()
    assert count == "1"
    assert "cpp" not in available.split(",")


def test_cpu_kernels_run_on_torchs_threads():
    """The C++ kernels split work with at::parallel_for, whose parallel region is an inline OpenMP
    pragma: built without -fopenmp, every kernel ran on one thread whatever torch.set_num_threads
    said (half the speed on the project's 2-core machine). Built with it, the OpenMP runtime is
    torch's own, so torch's thread count is the kernels' thread count."""
    if _extension.C is None:
        pytest.skip(f"no compiled fastgen._C: {_extension.load_error}")
    if not torch.backends.openmp.is_available():
        pytest.skip("this torch parallelises without OpenMP")
    assert _extension.C.build_info()["openmp"]
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert _extension.C.parallel_threads(64) == threads
    finally:
        torch.set_num_threads(before)
