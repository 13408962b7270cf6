"""`fastgen train` end to end, in-process, into tmp_path: runs, resumes, and every mistake of the
issue answered with one line and nothing written."""

import json
from pathlib import Path

import pytest
import torch

from fastgen.cli import main

MODELS = "dae, gan, lsgan, dcgan, vae"
# a tiny GAN on the ring of Gaussians: a step takes about a millisecond
GAN = ["train", "gan", "--data", "gaussians", "--no-progress", "--eval-samples", "100", "--batch-size", "16"]
GAN += ["--option", "hidden=8", "--option", "latent_dim=4", "--option", "layers=1"]


def cli(argv, capsys):
    """(exit code, stdout, stderr) of `fastgen ARGV`, whether argparse exits or main returns."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def run_dir_files(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def log(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_gan_on_gaussians_then_resume_then_sample(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "gan", "--data", "gaussians", "--out", out, "--no-progress", "--eval-every", "1"]
    common += ["--eval-samples", "500"]
    assert cli([*common, "--steps", "2", "--batch-size", "16"], capsys)[0] == 0
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
    evals = [r for r in log(out) if "eval" in r]
    assert [r["step"] for r in evals] == [0, 1, 2] and "modes_covered" in evals[-1]["eval"]

    code, _, err = cli([*common, "--steps", "2"], capsys)  # never overwrites a run
    assert code == 2 and "already holds files; resume=True (--resume) continues that run" in one_line_error(err)
    assert cli([*common, "--steps", "3", "--resume"], capsys)[0] == 0
    assert log(out)[-1]["step"] == 3

    grid = tmp_path / "grid.png"
    assert cli(["sample", out, "-n", "16", "-o", grid], capsys)[0] == 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_dcgan_on_mnist_reports_digits_fid_and_samples(tmp_path, capsys):
    out = tmp_path / "dcgan"
    args = ["train", "dcgan", "--steps", "2", "--out", out, "--option", "width=4", "--no-progress"]
    code, printed, _ = cli([*args, "--eval-samples", "100"], capsys)
    assert code == 0 and "embedded MNIST" in printed and "digits_fid" in printed
    final = log(out)[-1]
    assert final["step"] == 2 and final["eval"]["digits_fid"] > 0
    assert cli(["sample", out, "-n", "4", "-o", tmp_path / "digits.png"], capsys)[0] == 0


def test_train_dae_and_vae_report_their_held_out_losses(tmp_path, capsys):
    for model, option, key in (("dae", "n_hidden=16", "denoising_cross_entropy"), ("vae", "hidden=16", "elbo")):
        out = tmp_path / model
        args = ["train", model, "--steps", "2", "--out", out, "--no-progress", "--option", option]
        assert cli([*args, "--eval-samples", "50"], capsys)[0] == 0
        assert key in log(out)[-1]["eval"]


# (arguments, the error line) for each mistake the issue lists; none may write anything
MISTAKES = [
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got 0"),
    (["--batch-size", "-3"], "argument --batch-size: must be a positive integer, got -3"),
    (["--batch-size", "200000"], "argument --batch-size: 200000 is more than the 100000 training samples"),
    (["--epochs", "0"], "argument --epochs: must be a positive number, got 0"),
    (["--epochs", "-1"], "argument --epochs: must be a positive number, got -1"),
    (["--epochs", "0.00001"], "argument --epochs: 1e-05 is less than one step (an epoch is 6250 steps)"),
    (["--eval-samples", "0"], "argument --eval-samples: must be a positive integer, got 0"),
    (["--steps", "0"], "argument --steps: must be a positive integer, got 0"),
    (["--lr", "-1"], "argument --lr: must be a positive number, got -1"),
    (["--lr", "nan"], "argument --lr: must be a positive number, got nan"),
    (["--eval-every", "0"], "argument --eval-every: must be a positive integer, got 0"),
    (["--checkpoint-every", "-5"], "argument --checkpoint-every: must be a positive integer, got -5"),
    (["--keep-checkpoints", "0"], "argument --keep-checkpoints: must be a positive integer, got 0"),
    (["--threads", "0"], "argument --threads: must be a positive integer, got 0"),
    (["--data", "/missing"], "argument --data: /missing does not exist (expected mnist, digits, gaussians, cifar10"),
    (["--device", "tpu"], "argument --device: expected cpu, cuda or cuda:N, got 'tpu'"),
    (["--option", "width"], "argument --option: expected KEY=VALUE"),
    (["--option", "widht=3"], "argument --option: cannot build gan for gaussians"),
    (["--backend", "fast"], "argument --backend: expected one of auto, torch, cpp, cuda, triton, got 'fast'"),
    (["--image-size", "8"], "argument --data: image_size and channels apply to image datasets"),
    (["--data-root", "/missing"], "argument --data-root: /missing does not exist"),
    (["--resume"], "argument --resume:"),  # the folder does not exist
]


@pytest.mark.parametrize("arguments, message", MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_mistake_gets_one_line_and_writes_nothing(tmp_path, capsys, arguments, message):
    out = tmp_path / "run"
    steps = [] if "--epochs" in arguments else ["--steps", "1"]
    code, _, err = cli([*GAN, *steps, "--out", out, *arguments], capsys)
    assert code == 2
    line = one_line_error(err)
    assert line.startswith("fastgen train: error: ") and message in line, line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_missing_gpu_is_named(tmp_path, capsys):
    device = f"cuda:{torch.cuda.device_count() + 6}"
    code, _, err = cli([*GAN, "--steps", "1", "--out", tmp_path / "run", "--device", device], capsys)
    assert code == 2 and f"argument --device: {device}" in one_line_error(err)
    assert "no such device" in err or "not available here" in err
    assert not (tmp_path / "run").exists()


def test_out_naming_a_file_or_a_folder_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    for out, message in ((tmp_path / "afile", "is a file, not a folder"), (tmp_path / "afile" / "run", "is a file")):
        code, _, err = cli([*GAN, "--steps", "1", "--out", out], capsys)
        assert code == 2 and "argument --out:" in one_line_error(err) and message in err
    assert (tmp_path / "afile").read_text() == "mine"


def test_resume_refuses_conflicting_settings_and_applies_cadences(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli([*GAN, "--steps", "2", "--out", out, "--eval-every", "1", "--checkpoint-every", "1"], capsys)[0] == 0
    before = {name: (out / name).read_bytes() for name in run_dir_files(out)}

    conflicting = ["--batch-size", "8", "--lr", "0.1", "--seed", "3", "--data", "digits", "--option", "hidden=9"]
    code, _, err = cli(["train", "gan", "--resume", "--out", out, "--steps", "4", *conflicting], capsys)
    line = one_line_error(err)
    assert code == 2 and line.startswith("fastgen train: error: argument --resume:")
    for conflict in ("batch_size 8 (the run's: 16)", "lr 0.1 (the run's: the default)", "seed 3 (the run's: 0)"):
        assert conflict in line
    assert "data digits (the run's: gaussians)" in line and "option hidden=9 (the run's: 8)" in line
    assert {name: (out / name).read_bytes() for name in run_dir_files(out)} == before  # nothing written

    # the run's own values repeated are no conflict; the eval cadence (1) is kept, the sample one changed
    code, printed, _ = cli(["train", "gan", "--resume", "--out", out, "--steps", "4", "--batch-size", "16"] + [
        "--sample-every", "3", "--no-progress"], capsys)  # fmt: skip
    assert code == 0 and "changed on resume: sample_every 3 (was 250)" in printed
    assert [r["step"] for r in log(out) if "eval" in r] == [0, 1, 2, 3, 4]
    config = json.loads((out / "config.json").read_text())
    assert config["steps"] == 4 and config["sample_every"] == 3 and config["eval_every"] == 1
    assert config["checkpoint_every"] == 1 and config["keep_checkpoints"] == 2 and config["eval_samples"] == 100
    assert (out / "samples" / "step_000003.png").is_file()

    code, _, err = cli(["train", "gan", "--resume", "--out", out, "--steps", "3"], capsys)
    assert code == 2 and "argument --steps: the run has already reached step 4, past 3" in one_line_error(err)
    code, _, err = cli(["train", "dcgan", "--resume", "--out", out], capsys)
    assert code == 2 and "is a run of gan, not dcgan" in one_line_error(err)


def test_a_run_without_checkpoint_starts_again_and_matches_a_straight_run(tmp_path, capsys):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert cli([*GAN, "--steps", "3", "--out", straight], capsys)[0] == 0
    assert cli([*GAN, "--steps", "3", "--out", stopped, "--checkpoint-every", "50"], capsys)[0] == 0
    (stopped / "checkpoint.pt").unlink()  # as if killed before its first checkpoint
    (stopped / ".metrics.jsonl.0badf00d.tmp").write_text("half")

    code, _, err = cli([*GAN, "--steps", "3", "--out", stopped], capsys)
    assert code == 2 and "already holds files; resume=True (--resume) continues that run" in one_line_error(err)
    code, printed, _ = cli(["train", "gan", "--resume", "--out", stopped, "--no-progress"], capsys)
    assert code == 0 and "stopped before its first checkpoint: starting it again from step 0" in printed
    assert not list(stopped.glob(".*.tmp"))
    first, again = torch.load(straight / "checkpoint.pt"), torch.load(stopped / "checkpoint.pt")
    for key, value in first["model"].items():
        assert torch.equal(value, again["model"][key]), key
    assert log(straight) == log(stopped)


def test_auto_resume_starts_then_continues(tmp_path, capsys):
    out = tmp_path / "run"
    code, printed, _ = cli([*GAN, "--steps", "2", "--out", out, "--auto-resume"], capsys)
    assert code == 0 and "(new)" in printed
    code, printed, _ = cli([*GAN, "--steps", "3", "--out", out, "--auto-resume"], capsys)
    assert code == 0 and "resuming from step 2" in printed and log(out)[-1]["step"] == 3
    code, printed, _ = cli([*GAN, "--steps", "3", "--out", out, "--auto-resume"], capsys)  # a finished run
    assert code == 0 and "done: 3 steps" in printed
    code, _, err = cli(["train", "gan", "--auto-resume"], capsys)
    assert code == 2 and "argument --auto-resume: needs out_dir (--out)" in one_line_error(err)


def test_a_non_finite_loss_stops_with_the_step_and_saves_nothing_non_finite(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli([*GAN, "--steps", "50", "--out", out, "--lr", "1e38", "--checkpoint-every", "1"], capsys)
    line = one_line_error(err)
    assert code == 1 and "training diverged" in line and " at step " in line, line
    for path in out.glob("checkpoint*.pt"):
        weights = torch.load(path)["model"].values()
        assert all(torch.isfinite(w).all() for w in weights), path


def test_the_cli_keeps_tracebacks_for_bugs(tmp_path, monkeypatch):
    import fastgen.cli.train

    def broken(args):
        raise ValueError("a bug inside a library")  # raised here, in a test module: not fastgen's own check

    monkeypatch.setattr(fastgen.cli.train, "run", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["train", "gan"])


def test_the_cli_answers_fastgens_own_errors_missing_files_and_ctrl_c_in_one_line(monkeypatch, capsys):
    import fastgen.cli.stats
    from fastgen.train.recipes import defaults_for

    def raises(error):
        def run(args):
            raise error

        return run

    monkeypatch.setattr(fastgen.cli.stats, "run", lambda args: defaults_for("nope", (2,)))  # fastgen's own check
    code, _, err = cli(["stats", "a", "-o", "a.npz"], capsys)
    assert (
        code == 1
        and one_line_error(err) == "fastgen stats: error: model must be one of dae, gan, lsgan, dcgan, vae, got 'nope'"
    )
    monkeypatch.setattr(fastgen.cli.stats, "run", lambda args: Path("/missing/file.npz").read_bytes())
    code, _, err = cli(["stats", "a", "-o", "a.npz"], capsys)
    assert code == 1 and "No such file or directory: '/missing/file.npz'" in one_line_error(err)
    monkeypatch.setattr(fastgen.cli.stats, "run", raises(KeyboardInterrupt()))
    code, _, err = cli(["stats", "a", "-o", "a.npz"], capsys)
    assert code == 130 and one_line_error(err) == "fastgen stats: interrupted"


def test_resume_skips_a_truncated_newest_checkpoint_with_a_warning_and_cleans_temporaries(tmp_path, capsys):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert cli([*GAN, "--steps", "4", "--out", straight, "--checkpoint-every", "1"], capsys)[0] == 0
    assert cli([*GAN, "--steps", "3", "--out", broken, "--checkpoint-every", "1"], capsys)[0] == 0
    assert sorted(p.name for p in broken.glob("checkpoint*")) == ["checkpoint-000002.pt", "checkpoint.pt"]
    newest = broken / "checkpoint.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # a disk that filled up under a copy
    (broken / ".checkpoint.pt.5eed5eed.tmp").write_bytes(b"a write killed halfway")

    code, printed, err = cli(["train", "gan", "--resume", "--out", broken, "--steps", "4", "--no-progress"], capsys)
    assert code == 0 and "resuming from step 2" in printed
    assert err.strip() == f"fastgen train: warning: skipping an unreadable checkpoint: {newest} is truncated or corrupt"
    assert not list(broken.glob(".*.tmp"))
    assert sorted(p.name for p in broken.glob("checkpoint*")) == ["checkpoint-000003.pt", "checkpoint.pt"]
    first, again = torch.load(straight / "checkpoint.pt"), torch.load(broken / "checkpoint.pt")
    assert all(torch.equal(value, again["model"][key]) for key, value in first["model"].items())
    assert log(straight) == log(broken)


def test_resume_of_a_run_whose_checkpoints_or_config_are_unreadable_gets_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli([*GAN, "--steps", "1", "--out", out], capsys)[0] == 0
    torch.save({"step": 1, "payload": Payload()}, out / "checkpoint.pt")
    before = {name: (out / name).read_bytes() for name in run_dir_files(out)}
    code, printed, err = cli(["train", "gan", "--resume", "--out", out], capsys)
    line = one_line_error(err)
    assert code == 1 and line.startswith(f"fastgen train: error: no readable checkpoint in {out}: {out}/checkpoint.pt")
    assert "holds pickled Python objects" in line and "weights_only" not in line
    assert "code from a checkpoint ran" not in printed
    assert {name: (out / name).read_bytes() for name in run_dir_files(out)} == before  # left to look at

    (out / "config.json").write_text("{not json")
    code, _, err = cli(["train", "gan", "--resume", "--out", out], capsys)
    assert code == 2 and f"argument --resume: {out}/config.json is not valid JSON" in one_line_error(err)


class Payload:
    def __reduce__(self):
        return (print, ("code from a checkpoint ran",))


def test_a_second_signal_stops_at_once_in_one_line(tmp_path, capsys, monkeypatch):
    import signal

    from fastgen.train import Trainer

    accumulate = Trainer._accumulate

    def twice_interrupted_at_step_2(self, losses):  # Ctrl-C pressed twice within step 2
        accumulate(self, losses)
        if self.step == 2:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Trainer, "_accumulate", twice_interrupted_at_step_2)
    # The handler the run finds is not always Python's default_int_handler: a process started in
    # the background by a non-interactive shell inherits SIGINT ignored (SIG_IGN), and Python keeps
    # it so; `timeout`, which installs its own handler, hands its command the default one instead.
    found = signal.getsignal(signal.SIGINT)
    out = tmp_path / "run"
    code, _, err = cli([*GAN, "--steps", "5", "--out", out, "--checkpoint-every", "1"], capsys)
    assert code == 130 and one_line_error(err) == (
        f"stopped at once by a second SIGINT; continue from the last checkpoint: fastgen train gan --resume --out {out}"
    )
    assert torch.load(out / "checkpoint.pt")["step"] == 1
    assert signal.getsignal(signal.SIGINT) is found  # the run put back the handler it found
