"""`fastgen sample`: samples from a run folder or one checkpoint, in the format the output names;
a missing run, an unreadable, pickled or foreign checkpoint gets one line, never a traceback."""

import shutil

import pytest
import torch

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
        (["-o", "grid.gif"], "argument -o/--output: cannot write a .gif file: expected .png, .jpg, .jpeg, .webp"),
        (["-o", "grid"], "argument -o/--output: cannot write a file without an extension"),
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
