"""Seeds of the random ops: given by the caller, or drawn from torch's generator.

A call without a seed draws from torch's generator of its tensors' device, so ``torch.manual_seed``
fixes fastgen's noise too:

- CPU tensors: a seed drawn on the host from torch's CPU generator (one ``torch.randint``), handed
  to the kernels as an int and recorded: ``last_seed()`` gives it, and passing it as ``seed=``
  replays the call exactly.
- CUDA tensors: nothing is drawn on the host (that would be a host read, which a CUDA graph cannot
  replay). The CUDA kernels take the seed of torch's CUDA generator and reserve an offset of it,
  as torch's own random kernels do; the Triton kernels and the reference draw their (seed, base)
  on the device (``philox.draw_key``). Either way a CUDA graph draws new noise at every replay.
  ``last_seed()`` is then None; restoring ``torch.cuda.get_rng_state()`` replays such a call.
"""

from __future__ import annotations

import threading

import torch

from fastgen.ops import philox

__all__ = ["last_seed"]

_state = threading.local()


def resolve(seed: int | None, device: torch.device) -> int | None:
    """The seed a call hands its op: ``seed`` checked; else a fresh draw from torch's CPU generator
    for tensors off the GPU, and None on a GPU (the kernels draw there, see the module docstring)."""
    if seed is not None:
        seed = philox.check_seed(seed)
    elif device.type != "cuda":
        seed = philox.draw_seed()
    _state.last = seed
    return seed


def last_seed() -> int | None:
    """The seed used by the most recent random fastgen op on this thread: None before any, and
    after a call on CUDA tensors without a seed (drawn on the device; see the module docstring)."""
    return getattr(_state, "last", None)
