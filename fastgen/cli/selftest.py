"""`fastgen selftest`: every op on every backend usable here against the reference (see
``fastgen.selftest``); exit status 1 on any mismatch."""

import os
import subprocess
import sys

from fastgen.backends import NAMES


def add_arguments(parser):
    from fastgen.selftest import OPS

    parser.add_argument("--op", action="append", choices=OPS, help="only this op (repeatable)")
    parser.add_argument("--backend", action="append", choices=NAMES, help="only this backend (repeatable)")
    parser.add_argument("--cpu-only", action="store_true", help="leave the GPUs out")


def _argv(args) -> list[str]:
    argv = [flag for name in args.op or () for flag in ("--op", name)]
    argv += [flag for name in args.backend or () for flag in ("--backend", name)]
    return argv + (["--cpu-only"] if args.cpu_only else [])


def run(args) -> int:
    import torch

    from fastgen import backends, selftest

    # Without a GPU, Triton runs only under its interpreter, which must be switched on before
    # triton is imported -- and importing fastgen (as this command did) settles which backends
    # exist. So the command reruns itself once in a process that starts with TRITON_INTERPRET=1.
    if not torch.cuda.is_available() and not backends.triton_interpreted() and backends.triton_importable():
        env = {**os.environ, "TRITON_INTERPRET": "1"}
        return subprocess.run([sys.executable, "-m", "fastgen", "selftest", *_argv(args)], env=env).returncode

    devices = [torch.device("cpu")] if args.cpu_only else None
    pairs = selftest.targets(devices)
    print("fastgen selftest on " + ", ".join(f"{backend}@{device}" for device, backend in pairs), flush=True)
    rows = selftest.run(devices, set(args.op or ()), set(args.backend or ()))
    print(selftest.format_table(rows))
    failed = sum(not r.ok for r in rows)
    skipped = sum(r.status == "skip" for r in rows)
    print(f"{len(rows) - failed - skipped} ok, {failed} failed, {skipped} skipped (declined by the backend)")
    return 1 if failed else 0
