"""fastgen.train.run from Python alone: a whole run, an interrupt and a resume that gives the numbers
of a run never stopped, with its moving average and its loggers intact; the mistakes of the issue,
each one line (CLI exit 2) with nothing left behind."""

import csv
import json
import signal

import pytest
import torch

from fastgen.cli import main
from fastgen.train import Callback, Interrupted, SettingError, Trainer, run
from fastgen.train.ema import ModelEMA

# a tiny GAN on the ring: a step takes about a millisecond
TINY = {"options": {"hidden": 8, "latent_dim": 4, "layers": 1}, "batch_size": 16, "eval_samples": 100}
QUIET = {"progress": False, "eval_every": 2, "sample_every": 2, "checkpoint_every": 1}


def interrupt_at(monkeypatch, step: int) -> None:
    """SIGINT raised once inside ``step`` (after its losses), as a Ctrl-C pressed then."""
    accumulate = Trainer._accumulate

    def accumulate_then_interrupt(self, losses):
        accumulate(self, losses)
        if self.step == step:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Trainer, "_accumulate", accumulate_then_interrupt)


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def assert_same_state(first, second):
    for part in ("model", "ema"):
        assert first[part].keys() == second[part].keys()
        for key, value in first[part].items():
            assert torch.equal(value, second[part][key]), (part, key)


def test_a_run_an_interrupt_and_a_resume_from_python(tmp_path, monkeypatch, capsys):
    settings = {**TINY, **QUIET, "ema": 0.9, "loggers": ["csv"]}
    straight = run("gan", "gaussians", tmp_path / "straight", steps=5, **settings)
    assert straight.step == 5 and straight.config["world_size"] == 1 and "modes_covered" in straight.metrics
    assert len(straight.metrics["mode_counts"]) == 8

    interrupt_at(monkeypatch, 3)
    found = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted) as stopped:
        run("gan", "gaussians", tmp_path / "stopped", steps=5, **settings)
    assert stopped.value.step == 3 and stopped.value.out_dir == tmp_path / "stopped"
    assert signal.getsignal(signal.SIGINT) is found  # the handler the run found is back
    monkeypatch.undo()

    resumed = run("gan", out_dir=tmp_path / "stopped", resume=True, steps=5, progress=False)
    assert resumed.step == 5 and "resuming from step 3" in capsys.readouterr().out
    assert_same_state(
        torch.load(tmp_path / "straight" / "checkpoint.pt"), torch.load(tmp_path / "stopped" / "checkpoint.pt")
    )
    assert records(tmp_path / "straight") == records(tmp_path / "stopped")
    rows = lambda out: list(csv.DictReader((out / "metrics.csv").open()))  # noqa: E731
    assert rows(tmp_path / "straight") == rows(tmp_path / "stopped")
    config = json.loads((tmp_path / "stopped" / "config.json").read_text())
    assert config["world_size"] == 1 and config["global_batch_size"] == 16  # kept by a one-process resume
    assert config["ema"] == 0.9 and config["loggers"] == ["csv"]


def test_the_moving_average_is_the_formula(tmp_path):
    """θ_ema after each step is lerp(θ_ema, θ, 1 - decay) of the generator's parameters."""
    from fastgen import DCGAN

    torch.manual_seed(0)
    model = DCGAN(28, 1, latent_dim=8, width=4)
    data = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    trainer = Trainer(model, data, out_dir=tmp_path, steps=3, batch_size=8, ema=0.75)

    def generator():
        return {k: v.detach().clone() for k, v in model.named_parameters() if k.startswith("generator.")}

    expected, seen = generator(), []

    class Record(Callback):
        def on_step(self, trainer, losses):
            seen.append(generator())

    trainer.callbacks.append(Record())
    trainer.fit()
    for live in seen:
        for key, value in live.items():
            expected[key] = torch.lerp(expected[key], value, 0.25)
    average = trainer.ema.state_dict()
    assert average.keys() == expected.keys()  # the generator's parameters, not its BatchNorm buffers
    for key, value in expected.items():
        assert torch.equal(average[key], value), key
    with trainer.averaged():  # the model holds the average inside, its trained weights after
        assert torch.equal(trainer.model.state_dict()["generator.net.0.weight"], average["generator.net.0.weight"])
    assert torch.equal(trainer.model.state_dict()["generator.net.0.weight"], seen[-1]["generator.net.0.weight"])


def test_which_network_is_averaged():
    from fastgen import VAE, DenoisingAutoencoder

    assert all(k.startswith("decoder.") for k in ModelEMA(VAE((1, 8, 8), latent_dim=2, hidden=4), 0.9).average)
    assert set(ModelEMA(DenoisingAutoencoder(16, 4), 0.9).average) == {"weight", "hidden_bias", "visible_bias"}


def event_scalars_and_images(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0}).Reload()
    tags = events.Tags()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in tags["scalars"]}
    images = {tag: [e.step for e in events.Images(tag)] for tag in tags["images"]}
    return scalars, images


def test_an_interrupted_run_with_ema_and_tensorboard_resumes_with_both_intact(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    settings = {"options": {"width": 4, "latent_dim": 8}, "eval_samples": 20, **QUIET, "ema": 0.8}
    settings["loggers"] = ["tensorboard"]
    run("dcgan", "mnist", tmp_path / "straight", steps=4, batch_size=8, **settings)
    interrupt_at(monkeypatch, 3)
    with pytest.raises(Interrupted):
        run("dcgan", "mnist", tmp_path / "stopped", steps=4, batch_size=8, **settings)
    monkeypatch.undo()
    run("dcgan", out_dir=tmp_path / "stopped", resume=True, progress=False)

    assert_same_state(
        torch.load(tmp_path / "straight" / "checkpoint.pt"), torch.load(tmp_path / "stopped" / "checkpoint.pt")
    )
    straight, straight_images = event_scalars_and_images(tmp_path / "straight" / "tensorboard")
    scalars, images = event_scalars_and_images(tmp_path / "stopped" / "tensorboard")
    assert {"train/loss_d", "train/loss_g", "eval/digits_fid"} <= set(scalars)
    assert [step for step, _ in scalars["eval/digits_fid"]] == [0, 2, 4]  # each step once, nothing lost
    assert scalars == straight  # the same numbers as the run never stopped
    assert images["samples"] == straight_images["samples"] == [0, 2, 4]


# mistakes: (the argument run() names, its keyword arguments, the CLI's arguments, the CLI's error line)
EMPTY = "EMPTY"  # replaced by an empty folder
MISTAKES = [
    ("loggers", {"loggers": ["jsonl", "wandb"]}, ["--logger", "jsonl,wandb"], "argument --logger: expected some of"),
    ("ema", {"ema": 1.0}, ["--ema", "1"], "argument --ema: ema decay must be a number in (0, 1), e.g. 0.999, got 1.0"),
    ("ema", {"ema": 0}, ["--ema", "0"], "argument --ema: ema decay must be a number in (0, 1)"),
    ("holdout", {"holdout": 1.5}, ["--holdout", "1.5"], "argument --holdout: must be a fraction in (0, 1), e.g. 0.05"),
    ("data_root", {"data": "cifar10", "data_root": EMPTY}, ["--data", "cifar10", "--data-root", EMPTY],
     "argument --data-root: no CIFAR-10 batches under"),
    ("data_root", {"data": "celeba", "data_root": EMPTY}, ["--data", "celeba", "--data-root", EMPTY],
     "argument --data-root: no CelebA under"),
    ("data", {"data": "cifar10"}, ["--data", "cifar10"], "argument --data: cifar10 is read from a folder, never down"),
    ("options", {"options": {"width": "abc"}}, ["--option", "width=abc"], "option width of dcgan must be an integer"),
    ("hflip", {"hflip": True, "data": "gaussians"}, ["--hflip", "--data", "gaussians"], "argument --hflip: mirrors"),
]  # fmt: skip


@pytest.mark.parametrize("setting, kwargs, argv, message", MISTAKES, ids=[" ".join(m[2]) for m in MISTAKES])
def test_a_mistake_is_one_line_before_anything_is_written(tmp_path, capsys, setting, kwargs, argv, message):
    (tmp_path / EMPTY).mkdir()
    kwargs = {k: str(tmp_path / v) if v == EMPTY else v for k, v in kwargs.items()}
    argv = [str(tmp_path / a) if a == EMPTY else a for a in argv]
    out = tmp_path / "run"
    with pytest.raises(SettingError) as error:
        run("dcgan", out_dir=out, steps=1, progress=False, **{"options": {"width": 4}, **kwargs})
    assert error.value.setting == setting
    code = main(["train", "dcgan", "--out", str(out), "--steps", "1", "--no-progress", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("fastgen train: error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [EMPTY]


def test_a_missing_tensorboard_is_one_line_saying_what_to_install(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    hidden = lambda name, *args: None if name == "tensorboard" else find_spec(name, *args)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    code = main(["train", "gan", "--data", "gaussians", "--logger", "tensorboard", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (
        "fastgen train: error: argument --logger: tensorboard needs the tensorboard package: "
        'pip install "fastgen[tensorboard]" (or pip install tensorboard)'
    )
    assert not (tmp_path / "run").exists()


def test_the_backend_is_a_context_around_the_run_and_old_runs_with_a_backend_option_resume(tmp_path, capsys):
    import fastgen

    out = tmp_path / "run"
    with fastgen.backend("torch"):
        run("gan", "gaussians", out, steps=2, progress=False, **TINY)
    config = json.loads((out / "config.json").read_text())
    assert "backend" not in config["options"]
    config["options"]["backend"] = "torch"  # as fastgen wrote it before
    (out / "config.json").write_text(json.dumps(config))
    assert run("gan", out_dir=out, resume=True, steps=3, progress=False).step == 3
    assert "backend" not in json.loads((out / "config.json").read_text())["options"]


def test_hflip_mirrors_training_batches_and_a_folder_holdout_scores_the_held_out_images(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(12):
        Image.new("RGB", (30, 34), color=(index * 20, 0, 255 - index * 20)).save(folder / f"{index:02d}.png")
    common = {"steps": 2, "batch_size": 4, "image_size": 28, "options": {"width": 4, "latent_dim": 8}}
    common.update(progress=False, eval_samples=10)
    plain = run("dcgan", folder, tmp_path / "plain", **common)
    flipped = run("dcgan", folder, tmp_path / "flipped", hflip=True, holdout=0.25, **common)
    printed = capsys.readouterr().out
    assert "(train part of a fixed 0.25 holdout, 9 samples" in printed and "metrics on the held-out split" in printed
    assert flipped.config["hflip"] is True and flipped.config["holdout"] == 0.25 and plain.config["hflip"] is False
    weights = [
        torch.load(out / "checkpoint.pt")["model"]["discriminator.net.0.weight"]
        for out in (tmp_path / "plain", tmp_path / "flipped")
    ]
    assert not torch.equal(*weights)  # other batches (9 images to train on, mirrored at random)


def test_version_and_help_import_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fastgen.cli import main\n"
        "for argv in (['--version'], ['--help'], ['train', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, stop.code\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("fastgen 0.1.0\n") and "--logger" in result.stdout
    assert result.stdout.strip().endswith("no torch")
