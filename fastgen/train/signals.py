"""Graceful stops: SIGINT (Ctrl-C) and SIGTERM (a scheduler's or torchrun's stop) end a run cleanly.

Inside ``graceful_stop()`` the first of these signals only records a request; the trainer looks at
it after each step, agrees with the other ranks (a flag in the step's all-reduce of the losses: a
signal seen by one process stops them all at the same step), writes a checkpoint at that step and
raises :class:`Interrupted`. A second signal means "now": it raises :class:`StoppedAtOnce` wherever
the process is (checkpoints are written atomically, so the newest one on disk is still whole).
Outside ``graceful_stop()`` nothing changes: Python's default handlers stay in place.

Under a launcher that forwards the signals it receives (torchrun does, to every worker), one
Ctrl-C in a terminal reaches a worker twice: from the terminal (the whole foreground process
group) and from the launcher. There ``graceful_stop(repeat_stops_at_once=False)`` ignores the
repeats; stopping at once is the launcher's (torchrun kills a worker that lingers 30 s).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "STOP_SIGNALS",
    "Interrupted",
    "StoppedAtOnce",
    "exit_code",
    "graceful_stop",
    "ignore_stop_signals",
    "stop_requested",
]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: int | None = None  # the first stop signal received inside graceful_stop()
_repeat_stops_at_once = True


class Interrupted(Exception):
    """Training stopped at ``step`` on request (signal ``signum``), after writing a checkpoint."""

    def __init__(self, step: int, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}")
        self.step, self.signum = step, signum


class StoppedAtOnce(BaseException):
    """A second stop signal arrived before the first was honoured: stop without a new checkpoint.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(f"stopped at once by a second {signal.Signals(signum).name}")
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number (130, 143)."""
    return 128 + int(signum)


def stop_requested() -> int | None:
    """The stop signal received so far inside ``graceful_stop()``, or ``None``."""
    return _requested


def _handle(signum: int, frame) -> None:
    global _requested
    if _requested is None:
        _requested = signum
    elif _repeat_stops_at_once:
        raise StoppedAtOnce(signum)


@contextmanager
def graceful_stop(repeat_stops_at_once: bool = True) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into stop requests for the duration of the block (main thread only:
    Python delivers signals there; elsewhere the block changes nothing). A second signal raises
    :class:`StoppedAtOnce`, unless ``repeat_stops_at_once`` is false (under a forwarding launcher)."""
    global _requested, _repeat_stops_at_once
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _repeat_stops_at_once = repeat_stops_at_once
    previous = {signum: signal.signal(signum, _handle) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _requested, _repeat_stops_at_once = None, True


def ignore_stop_signals(worker_id: int | None = None) -> None:
    """A ``DataLoader`` ``worker_init_fn``: the worker leaves SIGINT and SIGTERM to the training process.

    Ctrl-C in a terminal, like a scheduler's SIGTERM, reaches every process of the group; a worker
    ended by it would fail the batch the training process may be waiting for, before that process
    finishes its step and writes its checkpoint. The training process ends its workers itself
    (and a worker whose parent died exits on its own).
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
