"""`fastgen sample`: samples from a run folder or one checkpoint, in the format the output names;
a missing run, an unreadable, pickled or foreign checkpoint gets one line, never a traceback."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.train.recipes import build_model
from tests.cli.test_train_cli import GAN, cli, one_line_error

MAGIC = {".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".webp": b"RIFF"}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny GAN run with checkpoints at steps 1 and 2 (checkpoint-000001.pt, checkpoint.pt)."""
    from fastgen.cli import main

    out = tmp_path_factory.mktemp("sample") / "run"
    assert main([*GAN, "--steps", "2", "--checkpoint-every", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(trained_run, tmp_path):
    return shutil.copytree(trained_run, tmp_path / "run")


@pytest.mark.parametrize("suffix", list(MAGIC))
def test_the_output_extension_names_the_format(trained_run, tmp_path, capsys, suffix):
    output = tmp_path / f"grid{suffix}"
    code, printed, _ = cli(["sample", trained_run, "-n", "8", "-o", output], capsys)
    assert code == 0 and "(step 2)" in printed
    assert output.read_bytes().startswith(MAGIC[suffix])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["-o", "grid.gif"], "argument -o/--output: cannot write a .gif file: expected .png, .jpg, .jpeg, .webp, or a"),
        (["-o", "grid/"], "argument -o/--output: gan samples 2-D points, not images: name a .png for a plot"),
        (["-o", "nowhere/grid.png"], "argument -o/--output: the folder nowhere does not exist"),
        (["-n", "0"], "argument -n/--num-samples: must be a positive integer, got 0"),
        (["--device", "tpu"], "argument --device: expected cpu, cuda or cuda:N, got 'tpu'"),
    ],
)
def test_output_mistakes(trained_run, tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(["sample", trained_run, *arguments], capsys)
    assert code == 2 and message in one_line_error(err)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_run_is_reported_before_the_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grid.png").write_bytes(b"mine")  # would be refused too, without --overwrite
    code, _, err = cli(["sample", "runs/nope"], capsys)
    assert code == 2 and one_line_error(err) == "fastgen sample: error: argument RUN: runs/nope does not exist"


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A tiny DCGAN run on the embedded MNIST, with a moving average of its generator."""
    from fastgen.cli import main

    out = tmp_path_factory.mktemp("images") / "run"
    argv = ["train", "dcgan", "--steps", "2", "--option", "width=4", "--option", "latent_dim=8", "--no-progress"]
    assert main([*argv, "--eval-samples", "20", "--ema", "0.5", "--out", str(out)]) == 0
    return out


def test_a_folder_target_gets_one_png_per_sample(image_run, tmp_path, capsys):
    for target in (str(tmp_path / "fake") + "/", tmp_path / "plain"):  # a trailing slash, or no extension
        code, printed, _ = cli(["sample", image_run, "-n", "5", "-o", target], capsys)
        folder = tmp_path / str(target).rstrip("/").split("/")[-1]
        assert code == 0 and "as 5 PNG files" in printed
        names = sorted(p.name for p in folder.iterdir())
        assert names == [f"{i:06d}.png" for i in range(5)]
        assert Image.open(folder / names[0]).size == (28, 28)  # one sample each, no grid padding
    code, _, err = cli(["sample", image_run, "-n", "5", "-o", tmp_path / "plain"], capsys)
    assert code == 2 and "already holds files; pass --overwrite" in one_line_error(err)


def test_samples_come_from_the_moving_average_unless_no_ema(image_run, tmp_path, capsys):
    state = torch.load(image_run / "checkpoint.pt")
    generator = build_model("dcgan", state["config"]["data_shape"], state["config"]["options"]).generator
    assert set(state["ema"]) == {f"generator.{name}" for name, _ in generator.named_parameters()}
    code, printed, _ = cli(["sample", image_run, "-n", "3", "-o", tmp_path / "avg/"], capsys)
    assert code == 0 and "from its moving average" in printed
    code, printed, _ = cli(["sample", image_run, "-n", "3", "-o", tmp_path / "raw/", "--no-ema"], capsys)
    assert code == 0 and "moving average" not in printed
    # the same seed through the averaged and the trained generator, as the command draws them
    for weights, folder in (({**state["model"], **state["ema"]}, "avg"), (state["model"], "raw")):
        model = build_model("dcgan", state["config"]["data_shape"], state["config"]["options"])
        model.load_state_dict(weights)
        torch.manual_seed(0)
        expected = model.eval().sample(3)[0].mul(255).add(0.5).clamp(0, 255).to(torch.uint8)  # save_image's rounding
        written = torch.from_numpy(np.asarray(Image.open(tmp_path / folder / "000000.png")).copy())
        assert torch.equal(written[..., 0], expected[0]), folder
    assert not torch.equal(state["ema"]["generator.net.0.weight"], state["model"]["generator.net.0.weight"])


def test_an_old_run_with_a_backend_option_still_samples(run_copy, tmp_path, capsys):
    state = torch.load(run_copy / "checkpoint.pt")
    state["config"]["options"]["backend"] = "torch"  # saved by fastgen before the backend became a context
    torch.save(state, run_copy / "checkpoint.pt")
    assert cli(["sample", run_copy, "-n", "4", "-o", tmp_path / "old.png"], capsys)[0] == 0


def test_an_existing_output_is_kept_unless_overwrite(trained_run, tmp_path, capsys):
    output = tmp_path / "grid.png"
    output.write_bytes(b"mine")
    code, _, err = cli(["sample", trained_run, "-o", output], capsys)
    assert code == 2 and "exists; pass --overwrite" in one_line_error(err) and output.read_bytes() == b"mine"
    assert cli(["sample", trained_run, "-o", output, "--overwrite"], capsys)[0] == 0


def test_a_missing_run_or_a_folder_without_checkpoint(tmp_path, capsys):
    code, _, err = cli(["sample", tmp_path / "missing", "-o", tmp_path / "g.png"], capsys)
    assert code == 2 and one_line_error(err).endswith("argument RUN: " + str(tmp_path / "missing") + " does not exist")
    (tmp_path / "empty").mkdir()
    code, _, err = cli(["sample", tmp_path / "empty", "-o", tmp_path / "g.png"], capsys)
    assert code == 2 and "holds no checkpoint" in one_line_error(err)
    assert not (tmp_path / "g.png").exists()


class Payload:
    def __reduce__(self):
        return (print, ("code from a checkpoint ran",))


def test_unreadable_pickled_and_foreign_files_get_one_line_naming_them(tmp_path, capsys):
    truncated = tmp_path / "truncated.pt"
    torch.save({"step": 1, "model": {}, "config": {}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:50])
    torch.save({"step": 1, "payload": Payload()}, tmp_path / "pickled.pt")
    torch.save({"conv.weight": torch.ones(2)}, tmp_path / "foreign.pt")
    torch.save({"step": 1, "model": {"w": torch.ones(2)}, "config": {"model": "gan"}}, tmp_path / "noconfig.pt")
    cases = {
        truncated: "is truncated or corrupt",
        tmp_path / "pickled.pt": "holds pickled Python objects (print)",
        tmp_path / "foreign.pt": "is not a fastgen training checkpoint (it has no step, model, config)",
        tmp_path / "noconfig.pt": "has no model configuration",
    }
    for path, message in cases.items():
        code, out, err = cli(["sample", path, "-o", tmp_path / "g.png"], capsys)
        line = one_line_error(err)
        assert code == 1 and line.startswith(f"fastgen sample: error: {path} ") and message in line, line
        assert "weights_only" not in err and "code from a checkpoint ran" not in out
    assert not (tmp_path / "g.png").exists()


def test_weights_of_another_model_are_refused(run_copy, tmp_path, capsys):
    state = torch.load(run_copy / "checkpoint.pt")
    state["config"]["options"]["hidden"] = 12  # the weights say 8
    torch.save(state, run_copy / "checkpoint.pt")
    code, _, err = cli(["sample", run_copy / "checkpoint.pt", "-o", tmp_path / "g.png"], capsys)
    assert code == 1 and "does not hold a gan fastgen can rebuild" in one_line_error(err)


def test_a_folder_uses_its_newest_readable_checkpoint_and_warns(run_copy, tmp_path, capsys):
    newest = run_copy / "checkpoint.pt"
    newest.write_bytes(newest.read_bytes()[:64])
    code, printed, err = cli(["sample", run_copy, "-n", "4", "-o", tmp_path / "g.png"], capsys)
    assert code == 0 and "(step 1)" in printed
    assert (
        err.strip() == f"fastgen sample: warning: skipping an unreadable checkpoint: {newest} is truncated or corrupt"
    )
    (run_copy / "checkpoint-000001.pt").write_bytes(b"")
    code, _, err = cli(["sample", run_copy, "-o", tmp_path / "h.png"], capsys)
    assert code == 1 and err.strip().splitlines()[-1] == f"fastgen sample: error: no readable checkpoint in {run_copy}"


def test_an_autoencoder_run_has_no_sampler(tmp_path, capsys):
    out = tmp_path / "dae"
    args = ["train", "dae", "--steps", "1", "--out", out, "--no-progress", "--option", "n_hidden=8"]
    assert cli([*args, "--eval-samples", "20"], capsys)[0] == 0
    code, _, err = cli(["sample", out, "-o", tmp_path / "g.png"], capsys)
    assert code == 2 and "a dae run has no sampler" in one_line_error(err)
