"""Checkpoints: unreadable files get one line naming them, a run folder keeps its newest few, a
resume falls back on an older one when the newest is unreadable, and files follow the umask."""

import os
import pickle
import stat
import warnings

import pytest
import torch

from fastgen._files import atomic_write, remove_stale_temporaries
from fastgen.train.checkpoint import (
    CheckpointError,
    CheckpointSkipped,
    RunCheckpoints,
    load_checkpoint,
    load_run_checkpoint,
    save_checkpoint,
)


def state(step: int) -> dict:
    return {"step": step, "model": {"w": torch.full((3,), float(step))}, "config": {"model": "gan"}}


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


class Payload:
    def __reduce__(self):
        return (print, ("code from a checkpoint ran",))


def test_unreadable_files_are_named_in_one_line(tmp_path):
    save_checkpoint(tmp_path / "good.pt", state(1))
    whole = (tmp_path / "good.pt").read_bytes()
    torch.save({"step": 1, "payload": Payload()}, tmp_path / "pickled.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    cases = {
        write_bytes(tmp_path / "empty.pt", b""): "is empty",
        write_bytes(tmp_path / "truncated.pt", whole[: len(whole) // 2]): "truncated or corrupt",
        write_bytes(tmp_path / "random.pt", bytes(range(256)) * 4): "corrupt or not a file written by torch.save",
        tmp_path / "pickled.pt": r"holds pickled Python objects \(print\)",
        tmp_path / "list.pt": "holds a list, not a checkpoint's dict",
        tmp_path / "foreign.pt": "not a fastgen training checkpoint .it has no step, model, config",
    }
    for path, reason in cases.items():
        with pytest.raises(CheckpointError, match=reason) as caught:
            load_run_checkpoint(path)
        message = str(caught.value)
        assert message.startswith(str(path)) and "\n" not in message, message
        assert "weights_only" not in message  # never torch's advice to unpickle the file anyway
    assert load_run_checkpoint(tmp_path / "good.pt")["step"] == 1
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_pickled_objects_are_never_run(tmp_path, capsys):
    torch.save({"step": 1, "payload": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    assert "code from a checkpoint ran" not in capsys.readouterr().out
    assert issubclass(CheckpointError, ValueError) and not issubclass(CheckpointError, pickle.UnpicklingError)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("keep", [1, 2, 3])
def test_the_newest_checkpoints_are_kept(tmp_path, keep):
    checkpoints = RunCheckpoints(tmp_path, keep=keep)
    for step in (5, 10, 15, 20):
        checkpoints.save(state(step))
    older = [f"checkpoint-{s:06d}.pt" for s in (10, 15)][2 - (keep - 1) :] if keep > 1 else []
    assert names(tmp_path) == sorted(["checkpoint.pt", *older])
    assert [load_checkpoint(p)["step"] for p in checkpoints.paths()] == [20, 15, 10][:keep]


def test_saving_the_same_step_again_replaces_it(tmp_path):
    checkpoints = RunCheckpoints(tmp_path, keep=2)
    checkpoints.save(state(5))
    checkpoints.save(state(5))
    assert names(tmp_path) == ["checkpoint.pt"]


def test_a_truncated_newest_checkpoint_is_skipped_with_a_warning(tmp_path):
    first = RunCheckpoints(tmp_path, keep=2)
    first.save(state(4))
    first.save(state(8))
    newest = tmp_path / "checkpoint.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # a copy that stopped halfway
    again = RunCheckpoints(tmp_path, keep=2)
    with pytest.warns(CheckpointSkipped, match=r"checkpoint\.pt is truncated or corrupt"):
        loaded = again.load_newest()
    assert loaded["step"] == 4 and again.newest_step is None
    again.save(state(5))  # the unreadable newest is overwritten, not kept as an "older" one
    assert names(tmp_path) == ["checkpoint-000004.pt", "checkpoint.pt"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RunCheckpoints(tmp_path).load_newest()["step"] == 5


def test_no_readable_checkpoint_lists_every_reason(tmp_path):
    write_bytes(tmp_path / "checkpoint.pt", b"")
    write_bytes(tmp_path / "checkpoint-000003.pt", b"junk")
    found, errors = RunCheckpoints(tmp_path).first_readable()
    assert found is None
    assert [str(e).split(" ", 1)[1] for e in errors] == ["is empty", "is truncated or corrupt"]


def test_a_crash_between_moving_and_writing_leaves_the_older_one(tmp_path):
    checkpoints = RunCheckpoints(tmp_path, keep=2)
    checkpoints.save(state(3))
    os.replace(tmp_path / "checkpoint.pt", tmp_path / "checkpoint-000003.pt")  # what save does first
    assert RunCheckpoints(tmp_path).load_newest()["step"] == 3


def test_stale_temporaries_are_removed(tmp_path):
    save_checkpoint(tmp_path / "checkpoint.pt", state(1))
    stale = write_bytes(tmp_path / ".checkpoint.pt.1a2b3c4d.tmp", b"half")
    mine = write_bytes(tmp_path / "notes.tmp", b"a user's file, not ours")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert names(tmp_path) == ["checkpoint.pt", "notes.tmp"] and mine.exists()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "file.bin", lambda file: file.write(b"x"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "file.bin").stat().st_mode) == 0o666 & ~umask
