"""Shared pieces of the benchmarks: the device, synchronisation and peak memory.

Peak memory: on CUDA, torch.cuda.max_memory_allocated above what was allocated before the call;
on CPU, the profiler's allocation events replayed in time order (what the call allocated on
top of its inputs, at its highest).
"""

from __future__ import annotations

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


def peak_memory_bytes(fn) -> int:
    """Bytes allocated by ``fn()`` at its peak, above what was live when it started."""
    if torch.cuda.is_available():
        synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        fn()
        synchronize()
        return torch.cuda.max_memory_allocated() - start
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.events() if e.name == "[memory]"]
    events.sort(key=lambda e: e.time_range.start)
    live = peak = 0
    for event in events:
        live += event.cpu_memory_usage
        peak = max(peak, live)
    return peak


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
