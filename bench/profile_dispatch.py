"""The host time of one call of each op, layer by layer of fastgen's dispatch.

On a GPU a small op's step is host-bound (bench/profile_steps.py: at 128 x 32 the kernels take
about 10 µs of a 0.4-1 ms step), so what each layer between the user and the kernel costs decides
the op's speed. Each row times many calls back to back on a small shape (the kernel's own work is
negligible), in 50 runs with one synchronisation at the end of each, and reports the best run's µs per call;
the layers, outermost first:

- public+grad:  the public function on inputs that require grad (checks, dispatch, autograd record)
- public:       the public function on inputs that do not (checks, dispatch)
- custom op:    the backend's registered custom op, called directly (torch.library dispatch, the
                launcher and its kernel): what the public layers add is the difference to this row
- triton_op, Launch.run, Launch.run wrap off, raw + device, raw kernel (triton, reparameterize):
                the Triton op's body, the planned launch through wrap_triton, the same with
                wrap_triton off (as inside a triton_op), the bare kernel under torch.cuda.device,
                and Triton's own launcher alone
- plain eager:  what a user writes instead in PyTorch (reparameterize)

The goal (issue 14): the public call at most 10 µs of host time over the custom op on a GPU.

    python -m bench.profile_dispatch [--calls 500] [--ops reparameterize corrupt_encode] [--threads 1]
                                     [--shape 128 32]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import fastgen
from bench.conftest import device, device_name, synchronize
from fastgen import ops
from fastgen.ops.corrupt_encode import OP as CORRUPT_ENCODE
from fastgen.ops.ls_loss import DISCRIMINATOR, GENERATOR
from fastgen.ops.random import UNIFORM
from fastgen.ops.reparameterize import OP as REPARAMETERIZE

SEED = 3


def per_call(fn, calls: int, repeats: int = 50) -> float:
    """The best of ``repeats`` runs of ``calls // repeats`` calls: the least disturbed by other
    processes (on a shared machine a run's mean can be several times its best, and short runs
    are the likeliest to fit between two preemptions)."""
    for _ in range(20):
        fn()
    synchronize()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(max(1, calls // repeats)):
            fn()
        synchronize()
        best = min(best, (time.perf_counter() - began) / max(1, calls // repeats))
    return best


def _plain(mu, logvar):
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(-1)
    return z, kl


def _without_wrap_triton(fn):
    """What a triton_op's eager body sees: wrap_triton hands back the bare kernel (no HOP dispatch)."""
    from torch._library.triton import set_wrap_triton_enabled

    with set_wrap_triton_enabled(False):
        fn()


def _under_device(where: torch.device, launch) -> None:
    with torch.cuda.device(where):
        launch.kernel[launch.grid](*launch.args, **launch.constexprs)


def _inputs(where: torch.device, shape: tuple[int, int]) -> dict:
    generator = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=generator).to(where)

    return {
        "mu": randn(*shape),
        "logvar": randn(*shape),
        "x": torch.rand(8, 16, generator=generator).to(where),
        "weight": randn(16, 8),
        "bias": randn(8),
        "scores": randn(64),
        "offsets": torch.arange(1024, device=where),
    }


def _grad(tensors: dict) -> dict:
    return {k: v.detach().clone().requires_grad_() if v.is_floating_point() else v for k, v in tensors.items()}


def _op_rows(backend: str, t: dict, g: dict) -> dict[str, dict[str, Callable]]:
    """op -> layer -> a call of that layer."""
    return {
        "reparameterize": {
            "public+grad": lambda: ops.reparameterize(g["mu"], g["logvar"], seed=SEED, backend=backend),
            "public": lambda: ops.reparameterize(t["mu"], t["logvar"], seed=SEED, backend=backend),
            "custom op": lambda: REPARAMETERIZE.custom_ops[backend](t["mu"], t["logvar"], None, SEED),
        },
        "corrupt_encode": {
            "public+grad": lambda: ops.corrupt_encode(
                t["x"], g["weight"], g["bias"], corruption=0.3, seed=SEED, backend=backend
            ),
            "public": lambda: ops.corrupt_encode(
                t["x"], t["weight"], t["bias"], corruption=0.3, seed=SEED, backend=backend
            ),
            "custom op": lambda: CORRUPT_ENCODE.custom_ops[backend](t["x"], t["weight"], t["bias"], 0.3, SEED),
        },
        "ls_discriminator_loss": {
            "public+grad": lambda: ops.ls_discriminator_loss(g["scores"], g["scores"], 0.0, 1.0, backend=backend),
            "public": lambda: ops.ls_discriminator_loss(t["scores"], t["scores"], 0.0, 1.0, backend=backend),
            "custom op": lambda: DISCRIMINATOR.custom_ops[backend](t["scores"], t["scores"], 0.0, 1.0),
        },
        "ls_generator_loss": {
            "public+grad": lambda: ops.ls_generator_loss(g["scores"], 1.0, backend=backend),
            "public": lambda: ops.ls_generator_loss(t["scores"], 1.0, backend=backend),
            "custom op": lambda: GENERATOR.custom_ops[backend](t["scores"], 1.0),
        },
        "philox_uniform": {
            "public": lambda: ops.philox_uniform(t["offsets"], SEED, backend=backend),
            "custom op": lambda: UNIFORM.custom_ops[backend](t["offsets"], SEED),
        },
    }


def _triton_layers(t: dict) -> dict[str, Callable]:
    from fastgen.ops.triton import reparameterize as kernels

    mu, logvar = t["mu"], t["logvar"]
    z, kl = torch.empty_like(mu), mu.new_empty(mu.shape[:-1])
    state = torch.empty(2, dtype=torch.int64, device=mu.device)
    launch = kernels._forward_launch(mu, logvar, None, z, kl, SEED, state)
    return {
        "triton_op": lambda: kernels.reparameterize_triton(mu, logvar, None, SEED),
        "Launch.run": launch.run,
        "Launch.run, wrap off": lambda: _without_wrap_triton(launch.run),
        "raw + device": lambda: _under_device(mu.device, launch),
        "raw kernel": lambda: launch.kernel[launch.grid](*launch.args, **launch.constexprs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--ops", nargs="*", help="only these ops (default: every op)")
    parser.add_argument("--shape", type=int, nargs=2, default=(128, 32), help="reparameterize's [rows, d]")
    parser.add_argument("--threads", type=int, help="torch's CPU threads (1: no parallel region waits for a busy core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    where = device()
    print(f"device: {device_name()}; µs of host time per call (shapes: bench/profile_dispatch.py _inputs)")
    t = _inputs(where, tuple(args.shape))
    g = _grad(t)
    plain = per_call(lambda: _plain(t["mu"], t["logvar"]), args.calls)
    print(f"{'plain eager':22} {'reparameterize':22} {'':8} {plain * 1e6:9.1f}")
    wanted = ("cuda", "triton") if where.type == "cuda" else ("cpp",)
    for backend in (b for b in fastgen.available_backends() if b in wanted):
        table = _op_rows(backend, t, g)
        if backend == "triton":
            table["reparameterize"].update(_triton_layers(t))
        for op, layers in table.items():
            if args.ops and op not in args.ops:
                continue
            for name, fn in layers.items():
                try:
                    print(f"{name:22} {op:22} {backend:8} {per_call(fn, args.calls) * 1e6:9.1f}", flush=True)
                except Exception as error:  # a layer's private API may move; the other rows still count
                    print(f"{name:22} {op:22} {backend:8} failed: {type(error).__name__}: {error}", flush=True)


if __name__ == "__main__":
    main()
