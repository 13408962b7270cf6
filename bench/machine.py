"""What machine a figure was measured on, without importing torch (the end-to-end scripts keep
their parent process light: the providers run in processes of their own)."""

from __future__ import annotations

import contextlib
import platform


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform module knows."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
