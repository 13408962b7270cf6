"""Shared pieces of the benchmarks: which fastgen is benchmarked, the device, synchronisation and
peak memory.

Which fastgen: the compiled one. Run from the repository root, pytest puts the root first on
sys.path, so ``import fastgen`` would find the source tree, which has no compiled extension after
a plain ``pip install .``. If the source tree was not built in place, the installed fastgen is
imported instead; if neither is compiled, the run stops with one line saying so.

Peak memory: on CUDA, torch.cuda.max_memory_allocated above what was allocated before the call;
on CPU, the peak resident set (Linux VmHWM, reset before the call) above the resident set when
the call starts, measured with glibc's mmap threshold fixed at 128 KiB so that a freed tensor
leaves the resident set at once. The timed rounds run with the threshold at 32 MiB instead, the
value glibc's own dynamic threshold reaches in a loop that frees such tensors, so that every
provider is timed as a user's process would run it, without a page fault per allocation.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from pathlib import Path

import pytest
import torch

from bench.machine import cpu_model

if not torch.cuda.is_available():
    # Triton is benchmarked on GPUs only: the CPU interpreter is a correctness tool.
    os.environ.pop("TRITON_INTERPRET", None)

_ROOT = Path(__file__).resolve().parent.parent


def _import_compiled_fastgen():
    """The fastgen with a compiled extension: the source tree if built in place, else the installed one."""
    if "fastgen" not in sys.modules and not any((_ROOT / "fastgen").glob("_C.*")):
        saved = sys.path[:]
        sys.path[:] = [entry for entry in sys.path if Path(entry or os.getcwd()).resolve() != _ROOT]
        try:
            import fastgen
        except ImportError:
            pytest.exit(
                "bench: no compiled fastgen to benchmark: the source tree has no fastgen/_C and fastgen is not "
                "installed (run `pip install --no-build-isolation .` first)",
                returncode=4,
            )
        finally:
            sys.path[:] = saved
    import fastgen
    from fastgen import _extension

    if _extension.C is None:
        pytest.exit(
            f"bench: {Path(fastgen.__file__).parent} has no usable compiled extension: {_extension.load_error}",
            returncode=4,
        )
    return fastgen


def pytest_configure(config):
    # Before collection imports the bench modules (and their `import fastgen`); pytest.exit here
    # ends the run with its one line, where an exit while importing this module shows a traceback.
    _import_compiled_fastgen()


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{cpu_model()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def pytest_report_header(config):
    import fastgen

    return (
        f"fastgen benchmarked: {Path(fastgen.__file__).parent} (backends {', '.join(fastgen.available_backends())})\n"
        f"device: {device_name()}"
    )


def pytest_terminal_summary(terminalreporter):
    from bench.interleave import SUMMARY, format_summary

    if SUMMARY:
        terminalreporter.write_sep("-", f"side by side on {device_name()}")
        for line in format_summary(SUMMARY):
            terminalreporter.write_line(line)


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


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _set_mmap_threshold(size: int) -> None:
    """Allocations of at least `size` bytes get their own mmap (freed at once); smaller ones come
    from the heap, which keeps up to 2 * size of freed memory; what it keeps now is released, so
    that an allocation after this call shows in the resident set. Not glibc (OSError): left as
    is, and the memory figures may under-count reused heap memory."""
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, size)
        libc.mallopt(_M_TRIM_THRESHOLD, 2 * size)
        libc.malloc_trim(0)


_MEASURING, _TIMING = 128 * 1024, 32 * 1024 * 1024
_set_mmap_threshold(_TIMING)


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
    _set_mmap_threshold(_MEASURING)
    try:
        fn()  # once, so that what the call keeps for later calls (caches) is not counted
        start = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets the peak resident set (VmHWM) to the current one
        fn()
        return max(0, _status_kib("VmHWM") - start) * 1024
    finally:
        _set_mmap_threshold(_TIMING)


@pytest.fixture
def run_pedantic(benchmark):
    """benchmark.pedantic with warm-up (JIT, autotuning); the device, torch's thread count and the
    peak memory of one call go into extra_info."""

    def run(fn, *, group: str, rounds: int = 5, warmup_rounds: int = 1, memory: bool = True, iterations: int = 1):
        benchmark.group = group
        benchmark.extra_info["device"] = device_name()
        benchmark.extra_info["torch_threads"] = torch.get_num_threads()
        if memory and not benchmark.disabled:  # the smoke (--benchmark-disable) runs fn once, no more
            benchmark.extra_info["peak_memory_mb"] = round(peak_memory_bytes(fn) / 2**20, 2)

        def timed():
            fn()
            synchronize()

        # iterations > 1: a round times that many calls back to back (reported per call), which
        # averages the scheduler's and the timer's jitter out of sub-millisecond steps
        return benchmark.pedantic(timed, rounds=rounds, warmup_rounds=warmup_rounds, iterations=iterations)

    return run
