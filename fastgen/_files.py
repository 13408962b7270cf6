"""Writing files so that a crash never leaves a half-written one: the content goes to a temporary
file beside the target, is flushed to disk, and replaces the target in one rename (``os.replace``
is atomic on POSIX and Windows), so the target holds either its old or its new content."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool = True) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, and rename it to ``path``."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
