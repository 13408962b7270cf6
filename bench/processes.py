"""Each provider's step in a process of its own, driven from the benchmark's process.

A user's training script holds one model and one training loop. Timing fastgen's step, the plain
loop and the tuned loop in one process makes them share one heap: on a 2-core AMD EPYC the DCGAN
64 × 64 step of fastgen read 1.21-1.29× the plain loop's speed when the two ran in one process,
and 1.43-1.55× when each ran in a process of its own (interleaved the same way; bench/RESULTS.md),
the plain loop's speed the same both ways. The large activations (33.5 MB at batch 128) come from
glibc's mmap and are faulted in afresh each step (130,000-160,000 page faults a step), and the
providers' frees and allocations move each other's heap and mmap threshold.

``ProviderProcess(target, *args)`` starts a process (spawn: a fresh interpreter, as a user's
script) that builds its step with ``target(*args)`` (an importable module-level function;
``ready()`` waits for it) and then runs it on request; calling the object runs ``count`` steps
there and returns when they are done (device synchronised), so
``bench.interleave.interleaved_medians`` can time it from here.
The benchmark process waits while a provider runs: one provider at a time, all cores its own.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable


def _serve(connection, threads: int, target: Callable, args: tuple) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        step = target(*args)
        connection.send(("ready", None))
    except Exception:  # reported to the benchmark's process, which raises it there
        connection.send(("error", traceback.format_exc()))
        return
    from bench.conftest import synchronize

    while True:
        count = connection.recv()
        if count is None:
            return
        try:
            for _ in range(count):
                step()
            synchronize()
            connection.send(("done", None))
        except Exception:
            connection.send(("error", traceback.format_exc()))
            return


class ProviderProcess:
    """One provider's step, built and run in a process of its own (see the module docstring)."""

    def __init__(self, target: Callable, *args, threads: int):
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, threads, target, args), daemon=True)
        self._process.start()
        child.close()
        self._ready = False

    def ready(self) -> None:
        """Wait until the step is built. Start every provider's process before waiting for any:
        they build (import torch, initialise the device) in parallel."""
        if not self._ready:
            self._expect("ready")
            self._ready = True

    def _expect(self, status: str) -> None:
        try:
            got, detail = self._connection.recv()
        except EOFError:
            raise RuntimeError(f"the provider's process died (exit code {self._process.exitcode})") from None
        if got != status:
            raise RuntimeError(f"the provider's process failed:\n{detail}")

    def __call__(self, count: int = 1) -> None:
        """Run ``count`` steps in the provider's process and wait for them."""
        self.ready()
        self._connection.send(count)
        self._expect("done")

    def close(self) -> None:
        if self._process.is_alive():
            self._connection.send(None)
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()
