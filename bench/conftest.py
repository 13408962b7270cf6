"""Shared pieces of the benchmarks: the device, synchronisation and peak memory.

Peak memory: on CUDA, torch.cuda.max_memory_allocated above what was allocated before the call;
on CPU, the peak resident set (Linux VmHWM, reset before the call) above the resident set when
the call starts, with large allocations forced to mmap so that freed memory leaves at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

import pytest
import torch

if not torch.cuda.is_available():
    # Triton is benchmarked on GPUs only: the CPU interpreter is a correctness tool.
    os.environ.pop("TRITON_INTERPRET", None)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def compiled_backends() -> list[str]:
    """The compiled implementations that run on this benchmark device (cpp on CPU; cuda, triton on GPU)."""
    import fastgen

    wanted = ("cuda", "triton") if device().type == "cuda" else ("cpp",)
    return [name for name in fastgen.available_backends() if name in wanted]


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _large_allocations_use_mmap() -> None:
    """Fix glibc's mmap threshold at 128 KiB, so that a freed tensor leaves the resident set at
    once (the dynamic threshold would keep it in the heap and hide the next allocation). Done
    when this module is imported, before any benchmark allocates."""
    # Not glibc (OSError): the figures may then under-count reused heap memory.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD


_large_allocations_use_mmap()


def peak_memory_bytes(fn) -> int:
    """Bytes allocated by ``fn()`` at its peak, above what was live when it started."""
    if torch.cuda.is_available():
        synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        fn()
        synchronize()
        return torch.cuda.max_memory_allocated() - start
    if not os.path.exists("/proc/self/clear_refs"):
        return -1  # no way to measure here
    start = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets the peak resident set (VmHWM) to the current one
    fn()
    return max(0, _status_kib("VmHWM") - start) * 1024


@pytest.fixture
def run_pedantic(benchmark):
    """benchmark.pedantic with warm-up (JIT, autotuning) and device info in extra_info."""

    def run(fn, *, group: str, rounds: int = 5, warmup_rounds: int = 1, memory: bool = True):
        benchmark.group = group
        benchmark.extra_info["device"] = device_name()
        if memory:
            benchmark.extra_info["peak_memory_mb"] = round(peak_memory_bytes(fn) / 2**20, 2)

        def timed():
            fn()
            synchronize()

        return benchmark.pedantic(timed, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)

    return run
