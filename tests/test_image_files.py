"""fastgen.image_files: which files are images, and how 8- and 16-bit files become uint8 pixels."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fastgen.image_files import (
    IMAGE_EXTENSIONS,
    UnreadableImageError,
    list_image_files,
    open_image,
    read_image,
)


def write_png16(path, pixels: np.ndarray) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour) from uint16 ``[H, W]`` or ``[H, W, 3]``."""
    height, width = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def pixels():
    return np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)


def test_the_extensions_cover_what_training_and_metrics_read():
    assert {".png", ".jpg", ".jpeg", ".bmp", ".webp"} <= IMAGE_EXTENSIONS


def test_listing_is_recursive_sorted_case_insensitive_and_skips_hidden(tmp_path, pixels):
    for name in ["b.PNG", "a/c.jpg", "a/d.webp", "e.bmp", "notes.txt", ".hidden.png", ".cache/f.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    listed = [p.relative_to(tmp_path).as_posix() for p in list_image_files(tmp_path)]
    assert listed == ["a/c.jpg", "a/d.webp", "b.PNG", "e.bmp"]
    with pytest.raises(NotADirectoryError, match="missing"):
        list_image_files(tmp_path / "missing")


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp"])
def test_lossless_8bit_files_read_back_exactly(tmp_path, pixels, suffix):
    path = tmp_path / f"x{suffix}"
    Image.fromarray(pixels).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    np.testing.assert_array_equal(read_image(path), pixels)
    gray = np.asarray(Image.fromarray(pixels).convert("L"))
    np.testing.assert_array_equal(read_image(path, channels=1)[:, :, 0], gray)


def test_16bit_gray_keeps_the_top_byte_instead_of_clipping(tmp_path, pixels):
    gray16 = pixels[:, :, 0].astype(np.uint16) * 257 + np.uint16(100)  # v·257 + noise below one level
    path = tmp_path / "gray16.png"
    Image.fromarray(gray16).save(path)
    assert Image.open(path).mode.startswith("I")  # Pillow's convert("L") would clip this to 255
    np.testing.assert_array_equal(read_image(path, channels=1)[:, :, 0], gray16 >> 8)
    np.testing.assert_array_equal(read_image(path, channels=3), np.repeat((gray16 >> 8)[:, :, None], 3, axis=2))
    assert open_image(path).mode == "RGB"


def test_16bit_colour_and_gray_follow_one_rule(tmp_path, pixels):
    wide = pixels.astype(np.uint16) * 257
    write_png16(tmp_path / "rgb16.png", wide)
    write_png16(tmp_path / "gray16.png", wide[:, :, 1])
    np.testing.assert_array_equal(read_image(tmp_path / "rgb16.png"), pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "gray16.png", channels=1)[:, :, 0], pixels[:, :, 1])


def test_out_of_range_wide_integers_and_float_pixels_are_refused(tmp_path):
    Image.fromarray(np.full((3, 3), 70000, dtype=np.int32), mode="I").save(tmp_path / "wide.tif")
    with pytest.raises(UnreadableImageError, match=r"wide\.tif.*16-bit range"):
        read_image(tmp_path / "wide.tif")
    Image.fromarray(np.zeros((3, 3), dtype=np.float32), mode="F").save(tmp_path / "float.tif")
    with pytest.raises(UnreadableImageError, match=r"float\.tif.*floating-point"):
        read_image(tmp_path / "float.tif")


@pytest.mark.parametrize("damage", ["empty", "truncated", "not an image"])
def test_an_unreadable_file_is_named_in_one_line(tmp_path, pixels, damage):
    good = tmp_path / "good.png"
    Image.fromarray(pixels).save(good)
    content = {"empty": b"", "truncated": good.read_bytes()[:60], "not an image": b"hello, world\n" * 10}[damage]
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(UnreadableImageError) as caught:
        read_image(bad)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_channels_must_be_1_or_3(tmp_path, pixels):
    Image.fromarray(pixels).save(tmp_path / "x.png")
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        read_image(tmp_path / "x.png", channels=2)
