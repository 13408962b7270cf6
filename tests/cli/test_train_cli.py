"""`fastgen train` and `fastgen sample` end to end, two steps each, into tmp_path."""

import json

import pytest

from fastgen.cli import main


def run_dir_files(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_train_gan_on_gaussians_then_resume_then_sample(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "gan", "--data", "gaussians", "--out", str(out), "--no-progress", "--eval-every", "1"]
    common += ["--eval-samples", "500"]
    assert main([*common, "--steps", "2", "--batch-size", "16"]) == 0
    assert run_dir_files(out) == [
        "checkpoint.pt",
        "config.json",
        "loss_curves.png",
        "metrics.jsonl",
        "samples/step_000000.png",
        "samples/step_000002.png",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "gan" and config["data_shape"] == [2] and config["batch_size"] == 16
    evals = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "eval" in r]
    assert [r["step"] for r in evals] == [0, 1, 2] and "modes_covered" in evals[-1]["eval"]

    with pytest.raises(SystemExit, match="--resume"):
        main([*common, "--steps", "2"])  # never overwrites a run
    assert main([*common, "--steps", "3", "--resume"]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 3

    grid = tmp_path / "grid.png"
    assert main(["sample", str(out), "-n", "16", "-o", str(grid)]) == 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="overwrite"):
        main(["sample", str(out), "-o", str(grid)])


def test_train_dcgan_on_mnist_reports_digits_fid_and_samples(tmp_path, capsys):
    out = tmp_path / "dcgan"
    args = ["train", "dcgan", "--steps", "2", "--out", str(out), "--option", "width=4", "--no-progress"]
    args += ["--eval-samples", "100"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "embedded MNIST" in printed and "digits_fid" in printed
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["step"] == 2 and final["eval"]["digits_fid"] > 0 and final["eval"]["inception_score"] >= 1
    assert main(["sample", str(out), "-n", "4", "-o", str(tmp_path / "digits.png")]) == 0


def test_train_dae_and_vae_report_their_held_out_losses(tmp_path):
    for model, option, key in (("dae", "n_hidden=16", "denoising_cross_entropy"), ("vae", "hidden=16", "elbo")):
        out = tmp_path / model
        args = ["train", model, "--steps", "2", "--out", str(out), "--no-progress", "--option", option]
        assert main([*args, "--eval-samples", "50"]) == 0
        final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        assert key in final["eval"]


def test_train_explains_what_it_cannot_build(tmp_path):
    with pytest.raises(SystemExit, match="image_size must be one of .*--image-size resizes images"):
        main(["train", "dcgan", "--data", "digits", "--steps", "1", "--out", str(tmp_path / "a")])
    with pytest.raises(SystemExit, match="widht"):
        main(["train", "dcgan", "--option", "widht=3", "--steps", "1", "--out", str(tmp_path / "b")])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
