"""Image folders, feature files and statistics: fastgen.metrics.images and fastgen.metrics.extract.

The reference for statistics is numpy: ``np.mean`` and ``np.cov`` (float64) of the pixels as PIL
decodes them. The pixel extractor below returns the gray pixels of 4×4 images as features, so the
whole folder → loader → extractor → FeatureStats path is checked against that independent decode.
Statistics are float64 on both sides: tolerance 1e-12 of the largest entry.
"""

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fastgen.metrics.extract import compute_statistics, get_extractor
from fastgen.metrics.images import (
    BadImage,
    ImageFiles,
    collate_images,
    float_to_uint8,
    image_loader,
    list_images,
    uint8_to_float,
)
from fastgen.metrics.stats import FeatureStats

HAS_DIGITS = importlib.util.find_spec("fastgen.metrics.digits") is not None
needs_digits = pytest.mark.skipif(not HAS_DIGITS, reason="fastgen.metrics.digits is not in this tree yet")


class PixelExtractor(nn.Module):
    """The protocol's smallest extractor: features = the 16 gray pixels of a 4×4 image, in [0, 1]."""

    dims = 16
    input_channels = 1

    def forward(self, images):
        if images.dtype != torch.uint8:
            images = float_to_uint8(images)
        features = uint8_to_float(images).flatten(1)
        return features, torch.zeros(len(images), 2)


def write_pngs(folder, pixels: np.ndarray) -> list:
    """Save each uint8 [H, W] or [H, W, 3] array as a PNG; nested folders to test recursion."""
    paths = []
    for index, image in enumerate(pixels):
        path = folder / f"part{index % 2}" / f"{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def assert_stats_equal(stats: FeatureStats, rows: np.ndarray):
    rows = rows.astype(np.float64)
    mean, cov = np.mean(rows, axis=0), np.cov(rows, rowvar=False)
    np.testing.assert_allclose(stats.mean.cpu().numpy(), mean, rtol=0, atol=1e-12 * np.abs(mean).max())
    np.testing.assert_allclose(stats.cov.cpu().numpy(), cov, rtol=0, atol=1e-12 * np.abs(cov).max())


@pytest.fixture
def gray_pixels():
    return np.random.default_rng(0).integers(0, 256, size=(7, 4, 4), dtype=np.uint8)


def test_list_images_is_recursive_sorted_and_filtered(tmp_path):
    for name in ["b/2.PNG", "a.jpg", "b/1.jpeg", "notes.txt", "c/d/e.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == [
        "a.jpg",
        "b/1.jpeg",
        "b/2.PNG",
        "c/d/e.png",
    ]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image"):
        list_images(tmp_path / "empty")


def test_image_files_convert_channels_as_pil_does(tmp_path):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, size=(5, 6), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    paths = [tmp_path / "gray.png", tmp_path / "rgb.png"]

    as_rgb = ImageFiles(paths, channels=3)
    assert as_rgb[0].dtype == torch.uint8 and as_rgb[0].shape == (3, 5, 6)
    for channel in range(3):
        assert np.array_equal(as_rgb[0][channel].numpy(), gray)
    assert np.array_equal(as_rgb[1].permute(1, 2, 0).numpy(), rgb)

    as_gray = ImageFiles(paths, channels=1)
    assert as_gray[1].shape == (1, 5, 6)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, PIL rounds it
    assert np.abs(as_gray[1][0].numpy() - luma).max() <= 0.5 + 1e-9
    assert np.array_equal(as_gray[0][0].numpy(), gray)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        ImageFiles(paths, channels=2)


def test_float_to_uint8_rounds_instead_of_truncating():
    levels = torch.arange(256, dtype=torch.float64)
    assert torch.equal(float_to_uint8((levels + 0.49).clamp(max=255) / 255), levels.to(torch.uint8))
    assert torch.equal(float_to_uint8((levels[:-1] + 0.51) / 255), (levels[:-1] + 1).to(torch.uint8))
    assert torch.equal(float_to_uint8(uint8_to_float(levels.to(torch.uint8))), levels.to(torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\].*\[-0.5, 0.5\]"):
        float_to_uint8(torch.tensor([-0.5, 0.5]))
    with pytest.raises(TypeError, match="uint8 or a floating dtype"):
        float_to_uint8(torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="must be uint8"):
        uint8_to_float(torch.tensor([0.5]))


def test_collate_stacks_one_size_keeps_mixed_sizes_apart_and_sets_bad_files_aside():
    small, large = torch.zeros(1, 4, 4, dtype=torch.uint8), torch.ones(1, 4, 5, dtype=torch.uint8)
    bad = BadImage("x.png", "cannot read image x.png: truncated")
    same = collate_images([small, bad, small])
    assert same.images.shape == (2, 1, 4, 4) and same.bad == [bad] and len(same) == 2
    mixed = collate_images([small, large])
    assert isinstance(mixed.images, list) and [tuple(i.shape) for i in mixed.images] == [(1, 4, 4), (1, 4, 5)]


def test_a_bad_file_becomes_a_marker_not_a_worker_traceback(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    item = ImageFiles([tmp_path / "bad.png"])[0]
    assert isinstance(item, BadImage) and str(tmp_path / "bad.png") in item.message


@pytest.mark.parametrize("batch_size, num_workers", [(3, 0), (50, 1)])
def test_folder_statistics_equal_numpy_of_the_decoded_pixels(tmp_path, gray_pixels, batch_size, num_workers, capsys):
    write_pngs(tmp_path, gray_pixels)
    stats = compute_statistics(tmp_path, PixelExtractor(), batch_size=batch_size, num_workers=num_workers)
    assert stats.count == 7 and stats.dim == 16
    assert_stats_equal(stats, gray_pixels.reshape(7, 16).astype(np.float32) / np.float32(255))  # float32 features
    assert "7/7" in capsys.readouterr().err  # the progress bar counts images


def test_loader_batches_in_sorted_order(tmp_path, gray_pixels):
    write_pngs(tmp_path, gray_pixels)
    batches = list(image_loader(list_images(tmp_path), channels=1, batch_size=4))
    assert [len(b) for b in batches] == [4, 3]
    order = sorted(range(7), key=lambda i: (i % 2, i))  # part0/000, part0/002, ..., part1/001, ...
    assert np.array_equal(torch.cat([b.images for b in batches])[:, 0].numpy(), gray_pixels[order])


def test_feature_files_and_npz(tmp_path):
    rows = np.random.default_rng(2).normal(3.0, 2.0, size=(40, 16)).astype(np.float32)
    np.save(tmp_path / "f.npy", rows)
    torch.save(torch.from_numpy(rows), tmp_path / "f.pt")
    for name in ("f.npy", "f.pt"):
        assert_stats_equal(compute_statistics(tmp_path / name, progress=False), rows)
    compute_statistics(tmp_path / "f.npy").save(tmp_path / "s.npz")
    assert_stats_equal(compute_statistics(tmp_path / "s.npz", PixelExtractor()), rows)


def test_bad_sources_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compute_statistics(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="needs an extractor"):
        compute_statistics(tmp_path)
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match="expected an image folder"):
        compute_statistics(tmp_path / "x.csv")

    np.save(tmp_path / "wide.npy", np.zeros((5, 8)))
    with pytest.raises(ValueError, match="8-dimensional features but the extractor gives 16"):
        compute_statistics(tmp_path / "wide.npy", PixelExtractor())
    FeatureStats(8).update(np.random.default_rng(3).normal(size=(5, 8))).save(tmp_path / "wide.npz")
    with pytest.raises(ValueError, match="8-dimensional features but the extractor gives 16"):
        compute_statistics(tmp_path / "wide.npz", PixelExtractor())

    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[N, d\] float matrix"):
        compute_statistics(tmp_path / "cube.npy")
    np.save(tmp_path / "ints.npy", np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[N, d\] float matrix"):
        compute_statistics(tmp_path / "ints.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a readable feature file"):
        compute_statistics(tmp_path / "objects.npy")
    torch.save({"features": torch.zeros(3, 4)}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match=r"one \[N, d\] tensor, got dict"):
        compute_statistics(tmp_path / "dict.pt")


def test_get_extractor_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="must be one of"):
        get_extractor("vgg")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pt_inception-2015-12-05-6726825d.pth"):
        get_extractor("inception")
    with pytest.raises(ValueError, match="dims must be one of"):  # checked before looking for the file
        get_extractor("inception", dims=100)


@needs_digits
def test_digits_statistics_of_saved_pngs_equal_those_of_the_float_images(tmp_path):
    """Samples in memory (float) and the same samples saved as PNG give the same statistics."""
    generator = torch.Generator().manual_seed(4)
    samples = torch.rand(12, 1, 28, 28, generator=generator)
    write_pngs(tmp_path, float_to_uint8(samples)[:, 0].numpy())
    extractor = get_extractor("digits")
    assert extractor.dims == 128
    with pytest.raises(ValueError, match="128-d features"):
        get_extractor("digits", dims=2048)
    with pytest.raises(ValueError, match="weights"):
        get_extractor("digits", weights="x.pth")

    # Identical uint8 inputs on both sides; only the batch sizes (5 vs 12) differ, which may change
    # the float32 convolution's summation order: 1e-5 for features of order 1.
    from_files = compute_statistics(tmp_path, extractor, batch_size=5, progress=False)
    order = sorted(range(12), key=lambda i: (i % 2, i))
    with torch.inference_mode():
        in_memory = FeatureStats(128).update(extractor(samples[order])[0])
    torch.testing.assert_close(from_files.mean, in_memory.mean, rtol=0, atol=1e-5)
    torch.testing.assert_close(from_files.cov, in_memory.cov, rtol=0, atol=1e-5 * in_memory.cov.abs().max().item())
