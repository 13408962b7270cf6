"""fastgen.data.read_idx against IDX files written with struct by the test itself."""

import gzip

import numpy as np
import pytest

from fastgen.data import read_idx

from .idx_files import idx_bytes, write_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("gzipped", [False, True])
def test_round_trip(tmp_path, dtype, shape, gzipped):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, gzipped=gzipped)
    read = read_idx(path)
    assert read.dtype == np.dtype(dtype) and read.dtype.isnative
    np.testing.assert_array_equal(read, array)


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    path = tmp_path / "plain-name-idx2-ubyte"
    path.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(path), array)


def corrupt(data: bytes, how: str) -> bytes:
    if how == "magic":
        return b"\x01" + data[1:]
    if how == "type":
        return data[:2] + b"\x07" + data[3:]
    if how == "zero_dims":
        return data[:3] + b"\x00"
    if how == "truncated_header":
        return data[:6]
    if how == "truncated":
        return data[:-1]
    if how == "trailing":
        return data + b"\x00"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how, message",
    [
        ("magic", "magic number"),
        ("type", "unknown IDX element type 0x07"),
        ("zero_dims", "0 dimensions"),
        ("truncated_header", "truncated IDX header"),
        ("truncated", "truncated"),
        ("trailing", "trailing bytes"),
    ],
)
def test_corrupt_files_raise_naming_the_file(tmp_path, how, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(corrupt(idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8)), how))
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_corrupt_gzip_raises(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 4), dtype=np.uint8)))[:-6])
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(path)
