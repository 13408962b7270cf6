"""Image files on disk, the one place that says which files are images and how they become 8-bit RGB.

Used by the metrics (``fastgen fid``/``fastgen stats``) and by training on a folder, so that both
accept the same files and read them the same way:

- :data:`IMAGE_EXTENSIONS`: the file suffixes taken as images (case-insensitive);
- :func:`list_image_files`: the images under a folder, recursively, sorted, hidden entries skipped;
- :func:`open_image`: one image as a PIL image of mode ``"RGB"`` or ``"L"`` with 8 bits per channel;
- :func:`read_image`: the same as a uint8 array ``[H, W, C]``.

16-bit images keep their top 8 bits, ``x >> 8`` (= floor(x / 256)). That is what Pillow itself does
when it opens a 16-bit colour PNG (it has no 48-bit mode), and what torchvision's
``convert_image_dtype`` does, so gray and colour images follow one rule; an 8-bit image widened to 16
bits the standard way (``v · 257``, PNG's bit replication) comes back as exactly ``v``. Pillow's own
``convert("L")``/``convert("RGB")`` would instead clip every 16-bit value above 255 to 255, which
turns a 16-bit image into an almost white one without a word.

A file that cannot be decoded (not an image, empty, truncated, floating-point pixels) raises
:class:`UnreadableImageError`, a ValueError whose one-line message names the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".webp"})

# Pillow modes holding one integer channel wider than 8 bits: 16-bit gray PNG/TIFF open as one of
# these ("I" is 32-bit signed, used by some Pillow versions and TIFFs for 16-bit data).
_WIDE_GRAY_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_MODES = {1: "L", 3: "RGB"}


class UnreadableImageError(ValueError):
    """An image file that cannot be decoded into 8-bit pixels; the message names the file."""


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files under ``folder`` (suffixes in :data:`IMAGE_EXTENSIONS`), recursively, sorted by path.

    Files and folders whose name starts with a dot are skipped (editor backups, ``.ipynb_checkpoints``).
    Raises NotADirectoryError if ``folder`` is not an existing directory; an empty list is returned
    for a folder without images (callers word that error for their own argument).
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} does not exist or is not a directory")
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and path.is_file()
    )


def describe_extensions() -> str:
    """The image suffixes for messages, e.g. ``.bmp, .jpeg, .jpg, .png, .webp``."""
    return ", ".join(sorted(IMAGE_EXTENSIONS))


def _wide_gray_to_8bit(image: Image.Image, path: Path) -> Image.Image:
    pixels = np.asarray(image)
    if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise UnreadableImageError(
            f"cannot read image {path}: its {image.mode} pixels span [{pixels.min()}, {pixels.max()}], "
            f"outside the 16-bit range [0, 65535]"
        )
    return Image.fromarray((pixels.astype(np.uint32) >> 8).astype(np.uint8), mode="L")


def open_image(path: str | os.PathLike, channels: int = 3) -> Image.Image:
    """The image at ``path`` with 8 bits per channel: mode ``"RGB"`` (``channels=3``) or ``"L"`` (``channels=1``).

    Colour conversions are Pillow's ``convert``, as pytorch-fid and torchvision read images: gray is
    replicated to RGB, alpha is dropped, palettes are expanded, and RGB becomes gray by ITU-R 601-2
    luma (L = 0.299 R + 0.587 G + 0.114 B). 16-bit gray keeps its top 8 bits (see the module notes).
    Raises :class:`UnreadableImageError` naming the file when it cannot be decoded.
    """
    if channels not in _MODES:
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here and not in a later conversion
            if image.mode == "F":
                raise UnreadableImageError(
                    f"cannot read image {path}: it holds floating-point pixels (mode F); save it with 8 or 16 bits"
                )
            if image.mode in _WIDE_GRAY_MODES:
                image = _wide_gray_to_8bit(image, path)
            return image.convert(_MODES[channels])
    except UnreadableImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # Pillow reports a non-image as UnidentifiedImageError (an OSError), a truncated one as
        # OSError, and some corrupt headers as SyntaxError or ValueError.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UnreadableImageError(f"cannot read image {path}: {reason}") from error


def read_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """The image at ``path`` as a uint8 array ``[H, W, channels]`` (see :func:`open_image`)."""
    pixels = np.array(open_image(path, channels), dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
    return pixels[:, :, None] if pixels.ndim == 2 else pixels
