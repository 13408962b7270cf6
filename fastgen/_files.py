"""Writing files so that a crash never leaves a half-written one: the content goes to a temporary
file beside the target, is flushed to disk, and replaces the target in one rename (``os.replace``
is atomic on POSIX and Windows), so the target holds either its old or its new content.

The temporary file is created with mode 0o666 and ``O_EXCL``, so the kernel applies the user's
umask exactly as for a file opened with ``open(path, "w")`` (``tempfile.mkstemp`` would make it
0600 whatever the umask). A process killed during a write leaves its temporary file behind:
``remove_stale_temporaries`` deletes them when a run is taken up again.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMPORARY_GLOB = ".*.tmp"  # what atomic_write names its temporary files: .NAME.RANDOM.tmp


def _temporary_beside(path: Path) -> tuple[int, Path]:
    """A new, empty file ``.NAME.RANDOM.tmp`` beside ``path``, opened for writing."""
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:  # a name drawn twice: draw another
            continue


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool = True) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, and rename it to ``path``."""
    path = Path(path)
    fd, temporary = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writes interrupted by a kill left in ``folder``; return them.

    Only call this when no other process is writing into ``folder``.
    """
    stale = sorted(Path(folder).glob(TEMPORARY_GLOB))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
