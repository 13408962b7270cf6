"""The host time of one reparameterize forward, layer by layer of fastgen's dispatch.

On a GPU a small op's step is host-bound (bench/profile_steps.py: at 128 x 32 the kernels take
about 10 µs of a 0.4-1 ms step), so what each layer between the user and the kernel costs decides
the op's speed. Each row times many forward calls back to back at 128 x 32, one synchronisation
at the end, and reports µs per call; the layers, outermost first:

- public:       fastgen.ops.reparameterize(mu, logvar, seed=, backend=B) (checks, dispatch, autograd)
- custom op:    the registered custom op of backend B (torch.library dispatch)
- triton_op:    the Triton module's triton_op (triton only)
- Launch.run:   the planned launch, under torch.cuda.device and wrap_triton (triton only); then
                the same with wrap_triton off (as inside a triton_op), and the bare kernel under
                torch.cuda.device alone
- raw kernel:   kernel[grid](...), Triton's own launcher (triton only)
- plain eager:  mu + exp(logvar / 2) * randn_like(mu) and the KL sum, what a user writes

    python -m bench.profile_dispatch [--calls 500]
"""

from __future__ import annotations

import argparse
import time

import torch

import fastgen
from bench.conftest import device, device_name, synchronize
from fastgen.ops import reparameterize
from fastgen.ops.reparameterize import OP


def per_call(fn, calls: int) -> float:
    for _ in range(20):
        fn()
    synchronize()
    began = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize()
    return (time.perf_counter() - began) / calls


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


def layers(backend: str, mu: torch.Tensor, logvar: torch.Tensor) -> dict:
    rows = {
        "public": lambda: reparameterize(mu, logvar, seed=3, backend=backend),
        "custom op": lambda: OP.custom_ops[backend](mu, logvar, None, 3),
    }
    if backend == "triton":
        from fastgen.ops.triton import reparameterize as kernels

        z, kl = torch.empty_like(mu), mu.new_empty(mu.shape[:-1])
        launch = kernels._forward_launch(mu, logvar, None, z, kl, 3)
        rows["triton_op"] = lambda: kernels.reparameterize_triton(mu, logvar, None, 3)
        rows["Launch.run"] = launch.run
        rows["Launch.run, wrap off"] = lambda: _without_wrap_triton(launch.run)
        rows["raw + device"] = lambda: _under_device(mu.device, launch)
        rows["raw kernel"] = lambda: launch.kernel[launch.grid](*launch.args, **launch.constexprs)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--shape", type=int, nargs=2, default=(128, 32))
    args = parser.parse_args()
    print(f"device: {device_name()}; reparameterize forward {tuple(args.shape)}, µs per call")
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(*args.shape, generator=generator).to(device())
    logvar = torch.randn(*args.shape, generator=generator).to(device())
    print(f"{'plain eager':20} {'':8} {per_call(lambda: _plain(mu, logvar), args.calls) * 1e6:9.1f}")
    wanted = ("cuda", "triton") if device().type == "cuda" else ("cpp",)
    for backend in (b for b in fastgen.available_backends() if b in wanted):
        for name, fn in layers(backend, mu, logvar).items():
            try:
                print(f"{name:20} {backend:8} {per_call(fn, args.calls) * 1e6:9.1f}", flush=True)
            except Exception as error:  # a layer's private API may move; the other rows still count
                print(f"{name:20} {backend:8} failed: {type(error).__name__}: {error}", flush=True)


if __name__ == "__main__":
    main()
