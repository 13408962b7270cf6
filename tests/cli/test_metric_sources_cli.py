"""The sources every metric command takes, and their mistakes: run folders sampled in memory,
dataset names, provenance of statistics files, and bad files (features, weights, runs).

References: the FID of a run equals `fastgen fid` of the same samples written to PNGs and read
back (the generator path must equal the files path: identical uint8 images, same network); the
statistics of a dataset name equal those of its images exported to PNGs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.cli import main
from tests.cli.test_train_cli import cli, one_line_error

DIGITS_GAN = ["train", "gan", "--data", "digits", "--no-progress", "--eval-samples", "10", "--batch-size", "16"]
DIGITS_GAN += ["--option", "hidden=8", "--option", "latent_dim=4", "--option", "layers=1"]
FID_RTOL = 1e-5  # two float32 feature passes over identical uint8 images; the CLI prints 6 decimals


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A tiny GAN run on scikit-learn's 8×8 digits, one checkpoint."""
    out = tmp_path_factory.mktemp("metric_run") / "run"
    assert main([*DIGITS_GAN, "--steps", "1", "--out", str(out)]) == 0
    return out


def printed_fid(out: str) -> float:
    assert out.startswith("FID: "), out
    return float(out.split()[1])


def write_pngs(folder, images: torch.Tensor):
    from fastgen.metrics.images import float_to_uint8

    folder.mkdir()
    for index, image in enumerate(float_to_uint8(images)):
        Image.fromarray(image[0].numpy()).save(folder / f"{index:03d}.png")
    return folder


def test_fid_of_a_run_equals_fid_of_its_samples_saved_as_pngs(image_run, tmp_path, capsys):
    from fastgen.cli.run_source import load_run_generator

    common = ["--extractor", "digits", "--no-progress", "--batch-size", "8"]
    code, out, err = cli(["fid", "digits", image_run, "--num-samples", "20", "--seed", "3", *common], capsys)
    assert code == 0, err
    from_run = printed_fid(out)

    generate, _ = load_run_generator("B", image_run, "cpu")
    with torch.random.fork_rng():  # the same draws as the metric: seed, then batches of --batch-size
        torch.manual_seed(3)
        samples = torch.cat([generate(8), generate(8), generate(4)])
    folder = write_pngs(tmp_path / "samples", samples)
    code, out, err = cli(["fid", "digits", folder, *common], capsys)
    assert code == 0, err
    assert printed_fid(out) == pytest.approx(from_run, rel=FID_RTOL, abs=2e-6)


def test_stats_of_a_dataset_name_equal_stats_of_its_exported_images(tmp_path, capsys):
    from fastgen.data import load_dataset

    options = ["--extractor", "digits", "--no-progress"]
    code, out, err = cli(["stats", "digits", "-o", tmp_path / "d.npz", *options], capsys)
    assert code == 0 and "of 1500 images" in out, err
    dataset, _ = load_dataset("digits", train=True)
    folder = write_pngs(tmp_path / "digits", dataset.data)
    assert cli(["stats", folder, "-o", tmp_path / "f.npz", *options], capsys)[0] == 0
    with np.load(tmp_path / "d.npz") as named, np.load(tmp_path / "f.npz") as files:
        for key in ("mu", "sigma"):  # identical uint8 images; batches may order sums differently
            scale = np.abs(files[key]).max()
            assert np.abs(named[key] - files[key]).max() <= 1e-5 * scale
        provenance = json.loads(str(named["provenance"]))
    assert provenance["extractor"] == "digits" and provenance["count"] == 1500 and provenance["fastgen"]
    assert len(provenance["weights_sha256"]) == 64 and provenance["source"] == "dataset digits (train)"


def test_statistics_made_differently_are_refused_naming_both(tmp_path, capsys):
    from fastgen.metrics.stats import FeatureStats

    rows = torch.randn(30, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name, protocol in (("a", "pytorch-fid"), ("b", "clean-fid")):
        stats = FeatureStats(4).update(rows[: 20 if name == "a" else 30])
        stats.provenance = {"protocol": protocol, "extractor": "inception", "dims": 4, "weights_sha256": "ab" * 32}
        stats.save(tmp_path / f"{name}.npz")
    code, out, err = cli(["fid", tmp_path / "a.npz", tmp_path / "b.npz"], capsys)
    line = one_line_error(err)
    assert code == 1 and out == ""  # a ValueError about the input files: main's exit 1
    assert "a.npz (protocol pytorch-fid" in line and "b.npz (protocol clean-fid" in line
    assert "--allow-mismatch" in line
    code, out, err = cli(["fid", tmp_path / "a.npz", tmp_path / "b.npz", "--allow-mismatch"], capsys)
    assert code == 0 and out.startswith("FID: ") and err == ""


def test_pytorch_fid_npz_reads_with_a_one_line_warning(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        rows = rng.normal(size=(20, 3))
        np.savez_compressed(tmp_path / f"{name}.npz", mu=rows.mean(0), sigma=np.cov(rows, rowvar=False))
    code, out, err = cli(["fid", tmp_path / "a.npz", tmp_path / "b.npz"], capsys)
    assert code == 0 and out.startswith("FID: ")
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all("records no provenance" in line and "warning" in line for line in lines)


class Pickled:
    pass


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"hello\n" * 20, "it is a text file"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "it is a PNG image"),
        (None, "holds something other than tensors"),
    ],
)
def test_bad_pt_features_and_weights_files_get_one_line(tmp_path, capsys, content, expected):
    for name in ("x.pt", "w.pth"):
        if content is None:
            torch.save(Pickled(), tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    code, out, err = cli(["fid", tmp_path / "x.pt", tmp_path / "ok.npy"], capsys)
    line = one_line_error(err)
    assert code == 2 and out == "" and "argument A" in line and "x.pt" in line and expected in line
    assert "weights_only" not in err

    (tmp_path / "images").mkdir()
    for index in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / f"{index}.png")
    code, out, err = cli(["fid", tmp_path / "images", tmp_path / "images", "--weights", tmp_path / "w.pth"], capsys)
    line = one_line_error(err)
    assert code == 1 and "weights" in line and "w.pth" in line and expected in line  # an unreadable file: exit 1
    assert "weights_only" not in err


def test_nan_features_and_unreadable_runs_get_one_line(tmp_path, capsys, image_run):
    rows = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    rows[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", rows)
    np.save(tmp_path / "ok.npy", np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))
    code, _, err = cli(["fid", tmp_path / "ok.npy", tmp_path / "nan.npy"], capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "argument B" in line and "nan.npy" in line and "NaN or Inf in 1 of its 6 rows (rows 3)" in line

    broken = tmp_path / "broken_run"
    broken.mkdir()
    (broken / "config.json").write_text(json.loads(json.dumps("{}")))
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    code, out, err = cli(["fid", "digits", broken, "--extractor", "digits", "--num-samples", "4"], capsys)
    assert code == 2 and out == ""
    assert "argument B" in err.strip().splitlines()[-1] and "broken_run" in err and "Traceback" not in err


def test_a_generator_of_the_wrong_shape_is_one_line(monkeypatch, image_run, capsys):
    import fastgen.cli.run_source as run_source

    real = run_source.load_run_generator

    def flat(argument, run, device):
        generate, name = real(argument, run, device)
        return (lambda n: generate(n).flatten(1)), name

    monkeypatch.setattr(run_source, "load_run_generator", flat)
    arguments = ["fid", "digits", image_run, "--extractor", "digits", "--num-samples", "4", "--no-progress"]
    code, out, err = cli(arguments, capsys)
    line = one_line_error(err)
    assert code == 2 and "argument B" in line and str(image_run) in line and "returned shape [4, 64]" in line


def test_stats_of_cifar10_from_its_files_equal_stats_of_the_decoded_images(tmp_path, capsys):
    """The real side without exporting images: `fastgen stats cifar10 --data-root DIR` reads the
    python batches (fastgen.data) and equals the statistics of the same images as PNGs."""
    from tests.data.test_datasets_by_path import write_cifar10

    write_cifar10(tmp_path / "cifar", per_batch=3)
    options = ["--extractor", "digits", "--no-progress"]
    code, out, err = cli(
        ["stats", "cifar10", "--data-root", tmp_path / "cifar", "-o", tmp_path / "c.npz", *options], capsys
    )
    assert code == 0 and "of 15 images" in out, err
    from fastgen.data import load_dataset

    dataset, _ = load_dataset("cifar10", root=tmp_path / "cifar")
    folder = tmp_path / "pngs"
    folder.mkdir()
    from fastgen.metrics.images import float_to_uint8

    for index in range(len(dataset)):
        Image.fromarray(float_to_uint8(dataset[index][0]).permute(1, 2, 0).numpy()).save(folder / f"{index:02d}.png")
    assert cli(["stats", folder, "-o", tmp_path / "f.npz", *options], capsys)[0] == 0
    with np.load(tmp_path / "c.npz") as named, np.load(tmp_path / "f.npz") as files:
        for key in ("mu", "sigma"):  # the same gray bytes (PIL's luma on both paths), batches apart
            scale = np.abs(files[key]).max()
            assert np.abs(named[key] - files[key]).max() <= 1e-5 * scale

    code, out, err = cli(["stats", "cifar10", "-o", tmp_path / "x.npz", *options], capsys)
    assert code == 2 and "argument A: cifar10 is read from a folder" in one_line_error(err)
    assert not (tmp_path / "x.npz").exists()


def test_a_file_made_differently_is_refused_before_the_images_are_read(tmp_path, capsys, monkeypatch):
    import fastgen.metrics.extract as extract
    from fastgen.metrics.stats import FeatureStats

    stats = FeatureStats(128).update(torch.randn(200, 128, generator=torch.Generator().manual_seed(0)))
    stats.provenance = {"protocol": "clean-fid", "extractor": "inception", "dims": 128, "weights_sha256": "cd" * 32}
    stats.save(tmp_path / "ref.npz")
    folder = write_pngs(tmp_path / "images", torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1)))

    def no_images(*args, **kwargs):
        raise AssertionError("images were read before the mismatch was found")

    monkeypatch.setattr(extract, "image_statistics", no_images)
    code, out, err = cli(["fid", tmp_path / "ref.npz", folder, "--extractor", "digits", "--no-progress"], capsys)
    line = one_line_error(err)
    assert code == 1 and out == ""
    assert f"A {tmp_path / 'ref.npz'} (protocol clean-fid, inception 128-d (weights cdcdcdcd)" in line
    assert f"B {folder} (protocol none, digits 128-d" in line and "(protocol, extractor, weights_sha256)" in line
