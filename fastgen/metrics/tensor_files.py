"""Reading the tensor files a user names (feature matrices, network weights) without ever unpickling.

``torch.load(weights_only=True)`` refuses anything but tensors and plain containers, which is what
fastgen wants, but it reports a refusal or a wrong file in its own words: a text file ends in
``KeyError: 105`` after a long traceback, an image renamed ``.pth`` prints the advice to retry with
``weights_only=False`` (running arbitrary code from the file), which fastgen must never suggest.
:func:`load_tensor_file` turns every failure into one ``ValueError`` naming the argument, the file
and what the file looks like instead.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6 is a zip archive
_KNOWN_FORMATS = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x93NUMPY": "a numpy .npy file",
    b"%PDF": "a PDF document",
}


def describe_file(path: Path) -> str:
    """What ``path`` looks like from its first bytes, for an error message ("a PNG image", "text")."""
    with open(path, "rb") as file:
        head = file.read(512)
    if not head:
        return "an empty file"
    for magic, name in _KNOWN_FORMATS.items():
        if head.startswith(magic):
            return name
    if head.startswith(ZIP_MAGIC):
        return "a zip archive that holds something other than tensors (fastgen never unpickles objects)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "not in torch.save's format"
    return "a text file"


def load_tensor_file(path: str | os.PathLike, argument: str, expected: str):
    """``torch.load(path, weights_only=True)`` on the CPU; any failure is one ValueError naming
    ``argument``, the file and what the file is (``expected`` says what it should have been)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{argument}: {path} does not exist (expected {expected})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, KeyError, EOFError, ...
        # torch's own message is left out on purpose: it may advise weights_only=False
        raise ValueError(f"{argument}: {path} is not {expected}: it is {describe_file(path)}") from None


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), cached per (path, size, mtime) for this process."""
    path = Path(path).resolve()
    status = path.stat()
    key = (str(path), status.st_size, status.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]
