"""Compile every Triton kernel of fastgen ahead of time for sm_80 and sm_90, without a GPU.

Each module of ``fastgen/ops/triton`` that a registered op names (``TritonKernels`` in its
description, enumerated from ``fastgen.ops.registry()``) plans its launches through ``Launch``
objects and states ``AOT_DTYPES``, ``AOT_SHAPES`` and ``aot_cases(shape, dtype)``: the launches its launchers make for
those shapes (planned on ``meta`` tensors by the launchers' own code, so the block constexprs here
are the ones a real call picks). This script turns each launch into the signature Triton's JIT
would specialise it to (pointer dtypes, int32/int64, the divisible-by-16 and equal-to-1 integer
specialisations), compiles it with ``triton.compile(ASTSource(...), target=GPUTarget("cuda", arch,
32))`` and prints one row per kernel x config x arch: registers and spill bytes (from ``ptxas -v``
on the generated PTX) and shared memory against the arch's limit. It ends with
``N compiled, M failed`` and exits 1 when M > 0.

    python scripts/triton_aot.py            # every dtype and shape (a few minutes on 2 cores)
    python scripts/triton_aot.py --quick    # float32, the typical shape: every kernel, both archs
    python scripts/triton_aot.py --quick --only ls_loss

Triton's kernel cache (~/.triton/cache) makes a second run fast; TRITON_CACHE_DIR moves it.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

# The interpreter replaces @triton.jit functions with Python ones, which cannot be compiled.
os.environ.pop("TRITON_INTERPRET", None)

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from fastgen.ops import registry  # noqa: E402
from fastgen.ops._registry import TritonKernels  # noqa: E402


def triton_modules() -> tuple[str, ...]:
    """The modules of fastgen/ops/triton that the registered ops name (``TritonKernels``)."""
    loaders = [loader for op in registry() for loader in op.description.implementations.values()]
    return tuple(dict.fromkeys(loader.module for loader in loaders if isinstance(loader, TritonKernels)))


MODULES = triton_modules()
ARCHS = (80, 90)
SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}  # bytes of shared memory one block may use
_POINTER_TYPES = {
    torch.float64: "fp64",
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.int64: "i64",
    torch.int32: "i32",
}


@dataclass(frozen=True)
class Spec:
    """What triton.compile needs for one launch, with a printable description."""

    signature: dict  # parameter name -> Triton type ("*fp32", "i32", "fp32", "constexpr")
    constexprs: dict  # parameter name -> value
    attrs: dict  # (parameter index,) -> [["tt.divisibility", 16]]
    description: str


def kernel_name(launch) -> str:
    return launch.kernel.fn.__name__


def spec_of(launch) -> Spec:
    """The specialisation Triton's JIT gives ``launch``'s arguments (its ``native_specialize_impl``
    rules: pointers and ints divisible by 16 get tt.divisibility; an int equal to 1 becomes a
    constant; ints outside int32 are i64; floats are fp32)."""
    names = list(inspect.signature(launch.kernel.fn).parameters)
    # (Read from the Python function, so that planning also works where @triton.jit is interpreted.)
    unspecialised = {p.name for p in getattr(launch.kernel, "params", ()) if p.do_not_specialize}
    runtime = [n for n in names if n not in launch.constexprs]
    if len(runtime) != len(launch.args):
        raise ValueError(f"{kernel_name(launch)} takes {runtime}, got {len(launch.args)} arguments")
    values = dict(zip(runtime, launch.args, strict=True))
    signature, constexprs, attrs, parts = {}, {}, {}, []
    for index, name in enumerate(names):
        if name in launch.constexprs:
            signature[name], constexprs[name] = "constexpr", launch.constexprs[name]
            parts.append(f"{name}={launch.constexprs[name]}")
            continue
        value = values[name]
        specialise = name not in unspecialised
        if isinstance(value, torch.Tensor):
            signature[name] = "*" + _POINTER_TYPES[value.dtype]
            attrs[(index,)] = [["tt.divisibility", 16]]  # torch allocations are 16-byte aligned
        elif isinstance(value, bool):
            signature[name] = "u1"
        elif isinstance(value, int):
            if value == 1 and specialise:
                signature[name], constexprs[name] = "constexpr", 1
                parts.append(f"{name}=1")
                continue
            signature[name] = "i32" if -(2**31) <= value < 2**31 else "i64"
            if value % 16 == 0 and specialise:
                attrs[(index,)] = [["tt.divisibility", 16]]
            parts.append(f"{name}:{signature[name]}{'/16' if (index,) in attrs else ''}")
        elif isinstance(value, float):
            signature[name] = "fp32"
        else:
            raise TypeError(f"{kernel_name(launch)}: cannot specialise argument {name}={value!r}")
    pointers = sorted({t[1:] for t in signature.values() if t.startswith("*")})
    description = f"{'/'.join(pointers)} " + " ".join(parts)
    return Spec(signature, constexprs, attrs, description)


@dataclass(frozen=True)
class Job:
    module: str
    dtype: str
    shape: object
    case: int  # index in aot_cases(shape, dtype)
    arch: int


def _launch_of(job: Job):
    module = importlib.import_module(f"fastgen.ops.triton.{job.module}")
    label, launch = list(module.aot_cases(job.shape, getattr(torch, job.dtype)))[job.case]
    return label, launch


def _ptxas() -> str | None:
    bundled = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    if os.access(bundled, os.X_OK):
        return bundled
    cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    return shutil.which("ptxas") or shutil.which(os.path.join(cuda_home, "bin", "ptxas"))


def _resource_usage(ptx: str) -> tuple[str, str]:
    """(registers, spill bytes) as ptxas -v reports them for the kernel's PTX."""
    ptxas = _ptxas()
    target = re.search(r"^\.target\s+(\w+)", ptx, re.MULTILINE)
    if ptxas is None or target is None:
        return "?", "?"
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "kernel.ptx")
        with open(source, "w") as handle:
            handle.write(ptx)
        out = subprocess.run(
            [ptxas, "-v", f"--gpu-name={target.group(1)}", source, "-o", os.path.join(tmp, "kernel.cubin")],
            capture_output=True,
            text=True,
        )
    log = out.stdout + out.stderr
    registers = re.search(r"Used (\d+) registers", log)
    spills = re.findall(r"(\d+) bytes spill stores", log)
    return (registers.group(1) if registers else "?"), str(sum(int(s) for s in spills)) if spills else "?"


def compile_job(job: Job) -> tuple[bool, list[str]]:
    """Compile one launch for one arch; (ok, the row's cells)."""
    label, launch = _launch_of(job)
    spec = spec_of(launch)
    name = kernel_name(launch)
    row = [f"{job.module}.{name}", f"{job.dtype} {label}: {spec.description}", f"sm_{job.arch}"]
    try:
        source = ASTSource(launch.kernel, spec.signature, spec.constexprs, spec.attrs)
        compiled = triton.compile(source, target=GPUTarget("cuda", job.arch, 32))
    except Exception as error:  # noqa: BLE001 - every failure is a row of the report
        message = " ".join(str(error).split())[:200]
        return False, [*row, "-", "-", "-", f"FAILED: {type(error).__name__}: {message}"]
    registers, spills = _resource_usage(compiled.asm["ptx"])
    shared = compiled.metadata.shared
    limit = SHARED_LIMIT[job.arch]
    ok = shared <= limit
    status = "ok" if ok else f"FAILED: shared memory {shared} B > {limit} B"
    if ok and spills not in ("0", "?"):
        status = "ok (spills)"
    return ok, [*row, registers, spills, f"{shared / 1024:.1f}/{limit // 1024} KiB", status]


def plan(quick: bool, only: str | None) -> list[Job]:
    """Every distinct (kernel, specialisation) of the chosen modules, for both archs."""
    jobs, seen = [], set()
    for module_name in MODULES:
        if only and module_name != only.split(".")[0]:
            continue
        module = importlib.import_module(f"fastgen.ops.triton.{module_name}")
        dtypes = module.AOT_DTYPES[:1] if quick else module.AOT_DTYPES
        shapes = module.AOT_SHAPES[:1] if quick else module.AOT_SHAPES
        for dtype in dtypes:
            for shape in shapes:
                for case, (_, launch) in enumerate(module.aot_cases(shape, dtype)):
                    name = kernel_name(launch)
                    if "." in (only or "") and name != only.split(".", 1)[1]:
                        continue
                    spec = spec_of(launch)
                    key = (module_name, name, tuple(spec.signature.items()), repr(spec.constexprs), repr(spec.attrs))
                    if key in seen:
                        continue
                    seen.add(key)
                    dtype_name = str(dtype).removeprefix("torch.")
                    jobs += [Job(module_name, dtype_name, shape, case, arch) for arch in ARCHS]
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="float32 and each module's typical shape only")
    parser.add_argument("--only", metavar="MODULE[.KERNEL]", help=f"one of {', '.join(MODULES)} (or one kernel)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compilations")
    args = parser.parse_args(argv)
    if args.only and args.only.split(".")[0] not in MODULES:
        parser.error(f"--only must name one of {', '.join(MODULES)}, got {args.only!r}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    start = time.perf_counter()
    jobs = plan(args.quick, args.only)
    if not jobs:
        parser.error(f"--only {args.only!r} matches no kernel")
    print(f"triton {triton.__version__}, torch {torch.__version__}: {len(jobs)} compilations, {args.jobs} at a time")
    header = ["kernel", "config", "arch", "regs", "spill B", "shared", "status"]
    rows, failed = [], 0
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        for ok, row in pool.map(compile_job, jobs):
            failed += not ok
            rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"({time.perf_counter() - start:.0f} s)")
    print(f"{len(jobs) - failed} compiled, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
