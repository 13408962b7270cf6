"""`fastgen fid` and `fastgen stats` on small PNG folders, .npz statistics and .npy/.pt features.

The reference FID is pytorch-fid's ``calculate_frechet_distance`` on ``np.mean``/``np.cov`` of the
same features (float64); the two agree to 1e-6 relative (pytorch-fid's own sqrtm rounding), and
the CLI prints 6 decimals, so values are compared at 1e-5 relative plus the printing step.
"""

import importlib.util
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import fastgen.metrics.extract as extract
from fastgen.cli import main
from fastgen.metrics.images import uint8_to_float

HAS_DIGITS = importlib.util.find_spec("fastgen.metrics.digits") is not None
needs_digits = pytest.mark.skipif(not HAS_DIGITS, reason="fastgen.metrics.digits is not in this tree yet")
pytorch_fid_score = pytest.importorskip("pytorch_fid.fid_score", reason="pytorch-fid is a test dependency")


def reference_fid(rows_a: np.ndarray, rows_b: np.ndarray) -> float:
    rows_a, rows_b = rows_a.astype(np.float64), rows_b.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's sqrtm(disp=) deprecation, inside pytorch-fid
        return float(
            pytorch_fid_score.calculate_frechet_distance(
                rows_a.mean(0), np.cov(rows_a, rowvar=False), rows_b.mean(0), np.cov(rows_b, rowvar=False)
            )
        )


def one_line(err: str) -> str:
    """The error's one line; a traceback or a second line fails the test."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def printed_fid(out: str) -> float:
    assert out.startswith("FID: "), out
    return float(out.split()[1])


class GrayPixels(nn.Module):
    """A tiny extractor of the protocol: the 16 gray pixels of a 4×4 image as features."""

    dims = 16
    input_channels = 1

    def forward(self, images):
        return uint8_to_float(images).flatten(1), torch.zeros(len(images), 2)


@pytest.fixture
def pixel_extractor(monkeypatch):
    """`--extractor inception` resolves to GrayPixels: the folder path without Inception's cost."""
    monkeypatch.setattr(extract, "get_extractor", lambda *args, **kwargs: GrayPixels())


def write_folder(folder, pixels: np.ndarray):
    folder.mkdir()
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{index:02d}.png")
    return folder


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(60, 8)).astype(np.float32)
    b = rng.normal(0.5, 1.5, size=(50, 8)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    torch.save(torch.from_numpy(b), tmp_path / "b.pt")
    return a, b


def test_fid_of_feature_files_equals_pytorch_fid(tmp_path, features, capsys):
    code, out, err = run_cli(capsys, "fid", tmp_path / "a.npy", tmp_path / "b.pt")
    assert code == 0, err
    expected = reference_fid(*features)
    assert printed_fid(out) == pytest.approx(expected, rel=1e-5, abs=1e-6)

    code, out, _ = run_cli(capsys, "fid", tmp_path / "a.npy", tmp_path / "b.pt", "--json")
    result = json.loads(out)
    assert result["fid"] == pytest.approx(expected, rel=1e-5)
    assert result["dims"] == 8 and result["a"]["count"] == 60 and result["b"]["count"] == 50


def test_stats_file_stands_in_for_its_source(tmp_path, features, capsys):
    code, out, err = run_cli(capsys, "stats", tmp_path / "a.npy", "-o", tmp_path / "a.npz")
    assert code == 0, err
    assert "60 samples, d = 8" in out
    with np.load(tmp_path / "a.npz") as data:  # pytorch-fid's keys
        np.testing.assert_allclose(data["mu"], features[0].astype(np.float64).mean(0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(data["sigma"], np.cov(features[0].astype(np.float64), rowvar=False), atol=1e-12)
    _, from_npy, _ = run_cli(capsys, "fid", tmp_path / "a.npy", tmp_path / "b.pt")
    _, from_npz, _ = run_cli(capsys, "fid", tmp_path / "a.npz", tmp_path / "b.pt")
    assert from_npz == from_npy


def test_stats_refuses_to_overwrite_without_force(tmp_path, features, capsys):
    output = tmp_path / "a.npz"
    output.write_bytes(b"precious")
    code, _, err = run_cli(capsys, "stats", tmp_path / "a.npy", "-o", output)
    assert code == 2 and "exists; pass --force" in err
    assert output.read_bytes() == b"precious"

    code, _, err = run_cli(capsys, "stats", tmp_path / "a.npy", "-o", output, "--force")
    assert code == 0, err
    with np.load(output) as data:
        assert data["mu"].shape == (8,)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left

    code, _, err = run_cli(capsys, "stats", tmp_path / "a.npy", "-o", tmp_path / "a.txt")
    assert code == 2 and "must name a .npz file" in err
    code, _, err = run_cli(capsys, "stats", tmp_path / "a.npy", "-o", tmp_path / "no" / "a.npz")
    assert code == 2 and "does not exist" in err


def test_fid_of_png_folders_equals_pytorch_fid_of_their_pixels(tmp_path, pixel_extractor, capsys):
    rng = np.random.default_rng(1)
    pixels_a = rng.integers(0, 256, size=(9, 4, 4), dtype=np.uint8)
    pixels_b = np.clip(rng.normal(100, 40, size=(11, 4, 4)), 0, 255).astype(np.uint8)
    folder_a, folder_b = write_folder(tmp_path / "a", pixels_a), write_folder(tmp_path / "b", pixels_b)
    code, out, err = run_cli(capsys, "fid", folder_a, folder_b, "--batch-size", 4, "--num-workers", 0)
    assert code == 0, err
    assert "9/9" in err and "11/11" in err  # a progress bar over images per folder
    as_features = lambda p: p.reshape(len(p), 16).astype(np.float32) / np.float32(255)  # noqa: E731
    assert printed_fid(out) == pytest.approx(reference_fid(as_features(pixels_a), as_features(pixels_b)), rel=1e-5)

    code, out, err = run_cli(capsys, "fid", folder_a, folder_a, "--no-progress", "--num-workers", 0)
    assert code == 0 and err == ""
    assert abs(printed_fid(out)) <= 1e-6

    code, _, err = run_cli(capsys, "stats", folder_a, "-o", tmp_path / "a.npz", "--num-workers", 0)
    assert code == 0, err
    _, from_folders, _ = run_cli(capsys, "fid", folder_a, folder_b, "--num-workers", 0)
    _, from_stats, _ = run_cli(capsys, "fid", tmp_path / "a.npz", folder_b, "--num-workers", 0)
    assert from_stats == from_folders


def test_dimension_mismatches_are_clear_errors(tmp_path, features, pixel_extractor, capsys):
    np.save(tmp_path / "wide.npy", np.random.default_rng(2).normal(size=(20, 12)))
    code, out, err = run_cli(capsys, "fid", tmp_path / "a.npy", tmp_path / "wide.npy")
    assert code == 1 and out == ""  # a ValueError about the input files: main's exit 1
    line = one_line(err)
    assert "different feature dimensions" in line and "8" in line and "12" in line

    code, _, err = run_cli(capsys, "fid", tmp_path / "a.npy", tmp_path / "b.pt", "--dims", 2048)
    assert code == 2 and "--dims: 2048 does not match" in one_line(err)

    folder = write_folder(tmp_path / "images", np.zeros((3, 4, 4), dtype=np.uint8))
    code, _, err = run_cli(capsys, "fid", folder, tmp_path / "a.npy", "--num-workers", 0)
    assert code == 2 and "8-dimensional features but the extractor gives 16" in one_line(err)

    code, _, err = run_cli(capsys, "fid", tmp_path / "missing", tmp_path / "a.npy")
    assert code == 2 and "does not exist" in one_line(err)

    code, _, err = run_cli(capsys, "fid", folder, tmp_path / "a.npy", "--dims", 100)
    assert code == 2 and "argument --dims: must be 64, 192, 768 or 2048" in one_line(err)


def test_missing_inception_weights_say_where_to_put_them(tmp_path, monkeypatch, features, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    folder = write_folder(tmp_path / "images", np.zeros((3, 4, 4), dtype=np.uint8))
    code, _, err = run_cli(capsys, "fid", folder, tmp_path / "a.npy")
    line = one_line(err)  # a missing file: main's exit 1
    assert (
        code == 1 and "pt_inception-2015-12-05-6726825d.pth" in line and str(tmp_path / "hub" / "checkpoints") in line
    )


@needs_digits
def test_digits_fid_of_folders(tmp_path, capsys):
    from fastgen.metrics.digits import load_digits_extractor

    rng = np.random.default_rng(3)
    pixels_a = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    pixels_b = (rng.random(size=(5, 28, 28)) < 0.2).astype(np.uint8) * 255
    folder_a, folder_b = write_folder(tmp_path / "a", pixels_a), write_folder(tmp_path / "b", pixels_b)
    code, out, err = run_cli(capsys, "fid", folder_a, folder_b, "--extractor", "digits", "--num-workers", 0)
    assert code == 0, err
    extractor = load_digits_extractor()
    with torch.inference_mode():
        rows = [extractor(torch.from_numpy(p).unsqueeze(1))[0].numpy() for p in (pixels_a, pixels_b)]
    # Batch sizes differ (50 in the CLI, whole set here): float32 features agree to ~1e-6 relative.
    assert printed_fid(out) == pytest.approx(reference_fid(*rows), rel=1e-4)
    code, _, err = run_cli(capsys, "fid", folder_a, folder_b, "--extractor", "digits", "--dims", 2048)
    assert code == 2 and "argument --dims: the digits extractor gives 128-d features" in one_line(err)


@pytest.mark.slow
def test_inception_fid_of_folders_with_a_weight_file(tmp_path, capsys):
    """End to end with FIDInceptionV3 (random weights saved under the standard name)."""
    from fastgen.metrics.inception import WEIGHTS_FILENAME, FIDInceptionV3

    torch.manual_seed(0)
    network = FIDInceptionV3()
    for module in network.modules():  # He-scaled: PyTorch's default init lets the features vanish
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    weights = tmp_path / WEIGHTS_FILENAME
    torch.save(network.state_dict(), weights)
    rng = np.random.default_rng(4)
    pixels_a = rng.integers(0, 256, size=(3, 20, 20, 3), dtype=np.uint8)
    pixels_b = rng.integers(0, 128, size=(3, 20, 20), dtype=np.uint8)  # gray: replicated to RGB
    folder_a, folder_b = write_folder(tmp_path / "a", pixels_a), write_folder(tmp_path / "b", pixels_b)
    args = ["fid", folder_a, folder_b, "--weights", weights, "--num-workers", 0, "--device", "cpu", "--dims", 768]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    network = FIDInceptionV3(dims=768)
    network.load_state_dict(torch.load(weights, weights_only=True))
    with torch.inference_mode():
        rows_a = network(torch.from_numpy(pixels_a).permute(0, 3, 1, 2))[0].numpy()
        rows_b = network(torch.from_numpy(pixels_b).unsqueeze(1))[0].numpy()
    expected = reference_fid(rows_a, rows_b)
    assert expected > 1.0  # the features did not vanish
    assert printed_fid(out) == pytest.approx(expected, rel=1e-4)
