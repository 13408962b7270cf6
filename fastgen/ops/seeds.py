"""Seeds of the random ops: given by the caller, or drawn from torch's generator and recorded.

``torch.manual_seed(s)`` therefore fixes fastgen's noise too, and ``last_seed()`` tells which
seed the last random op of this thread used, so that a call can be replayed exactly.
"""

from __future__ import annotations

import threading

from fastgen.ops import philox

_state = threading.local()


def resolve(seed: int | None) -> int:
    """The seed to use: ``seed`` checked, or a fresh draw from torch's default generator."""
    seed = philox.draw_seed() if seed is None else philox.check_seed(seed)
    _state.last = seed
    return seed


def last_seed() -> int | None:
    """The seed used by the most recent random fastgen op on this thread (None before any)."""
    return getattr(_state, "last", None)
