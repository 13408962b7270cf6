"""Faults of a real `fastgen train` process: SIGINT/SIGTERM stop it with a checkpoint of the step
reached, SIGKILLs at random moments cost nothing but time (the resumed run is bit-identical to one
never stopped), and torchrun's restart of a killed worker with --auto-resume finishes the run."""

import contextlib
import functools
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastgen import distributed
from fastgen.cli import UsageError, main
from fastgen.cli.train import _decided_by_rank_0
from fastgen.train import Callback, load_checkpoint
from fastgen.train.checkpoint import RunCheckpoints
from fastgen.train.signals import Interrupted, StoppedAtOnce, graceful_stop, stop_requested
from tests.train.test_distributed import make, run_ranks

ROOT = Path(__file__).resolve().parents[2]
# a tiny GAN on the ring of Gaussians: about a millisecond a step, so the processes below spend
# their time importing torch; only the cadences under test write files
TINY = ["gan", "--data", "gaussians", "--no-progress", "--batch-size", "16", "--eval-samples", "100"]
TINY += ["--option", "hidden=8", "--option", "latent_dim=4", "--option", "layers=1"]
TINY += ["--eval-every", "100000", "--sample-every", "100000"]
TIMEOUT = 180  # seconds for any one process, on a loaded 2-core machine


def environment() -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("RANK", None)  # never inherit a launcher's process group
    return env


def start(*argv, out: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "fastgen", "train", *argv, "--out", str(out)]
    with log.open("w") as sink:
        return subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=environment(), cwd=out.parent, start_new_session=True
        )


def wait_until(condition, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def logged_steps(out: Path) -> int:
    """The last step with a training-loss record (every 50 steps) in metrics.jsonl."""
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    return max((json.loads(line)["step"] for line in lines if '"train"' in line), default=0)


def modified(path: Path) -> int | None:
    """When ``path`` was last written (``None`` while it does not exist: a checkpoint is moved aside
    to ``checkpoint-STEP.pt`` just before its successor is written)."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def assert_same_run(a: Path, b: Path) -> None:
    first, second = torch.load(a / "checkpoint.pt"), torch.load(b / "checkpoint.pt")
    assert first["step"] == second["step"]
    for key, value in first["model"].items():
        assert torch.equal(value, second["model"][key]), key
    for name, optimizer in first["optimizers"].items():
        for index, values in optimizer["state"].items():
            other = second["optimizers"][name]["state"][index]
            for key, value in values.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other[key])), (name, index, key)
    log = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    assert log == [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]


def test_a_first_signal_is_a_request_a_second_stops_at_once_and_handlers_are_restored():
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with graceful_stop():
        signal.raise_signal(signal.SIGINT)
        assert stop_requested() == signal.SIGINT
        with pytest.raises(StoppedAtOnce, match="second SIGTERM"):
            signal.raise_signal(signal.SIGTERM)
    assert stop_requested() is None
    assert {signum: signal.getsignal(signum) for signum in before} == before
    with graceful_stop(repeat_stops_at_once=False):  # under torchrun, which forwards the terminal's Ctrl-C
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        assert stop_requested() == signal.SIGINT


def image_folder(folder: Path, count: int = 64) -> Path:
    from PIL import Image

    folder.mkdir()
    pixels = torch.randint(0, 256, (count, 8, 8, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for index, image in enumerate(pixels):
        Image.fromarray(image.numpy()).save(folder / f"{index:03d}.png")
    return folder


# Ctrl-C in a terminal signals the whole process group, DataLoader workers included (a folder is
# streamed by 2 workers here); torchrun and schedulers send SIGTERM to the training process
STOPS = {
    "SIGINT to the group, streamed folder": (signal.SIGINT, True),
    "SIGTERM to the process": (signal.SIGTERM, False),
}


@pytest.mark.parametrize("signum, to_group", list(STOPS.values()), ids=list(STOPS))
def test_a_stop_signal_checkpoints_the_step_reached(tmp_path, signum, to_group):
    if to_group:
        data = ["--data", str(image_folder(tmp_path / "images")), "--workers", "2", "--batch-size", "4"]
        run = ["dae", *data, "--image-size", "8", "--option", "n_hidden=8", "--no-progress", "--eval-samples", "10"]
        run += ["--eval-every", "100000", "--sample-every", "100000"]
    else:
        run = TINY
    out = tmp_path / "stopped"
    process = start(*run, "--steps", "1000000", "--checkpoint-every", "100000", out=out, log=tmp_path / "log")
    wait_until(lambda: logged_steps(out) >= 50, process, "the first training steps")
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    assert process.wait(TIMEOUT) == 128 + signum
    printed = (tmp_path / "log").read_text()
    assert "Traceback" not in printed
    last = printed.strip().splitlines()[-1]
    step = int(last.split("interrupted at step ")[1].split(";")[0])
    assert last == f"interrupted at step {step}; continue with: fastgen train {run[0]} --resume --out {out}"
    assert step >= 50 and torch.load(out / "checkpoint.pt")["step"] == step

    # the stopped run, continued 7 steps further, equals a run that went there without stopping
    resume = ["train", run[0], "--resume", "--out", str(out), "--steps", str(step + 7), "--no-progress"]
    assert main([*resume, "--workers", "0"]) == 0  # the same batches, read in this process
    straight = tmp_path / "straight"
    assert main(["train", *run, "--steps", str(step + 7), "--checkpoint-every", "100000", "--out", str(straight)]) == 0
    assert_same_run(straight, out)


def test_random_sigkills_and_auto_resumes_give_the_weights_of_an_unbroken_run(tmp_path):
    steps, every = 400, 10  # each process is killed within about 60 steps of its first checkpoint
    run = [*TINY, "--steps", str(steps), "--checkpoint-every", str(every), "--auto-resume"]
    out, chance = tmp_path / "killed", random.Random(0)
    for kill in range(3):
        before = modified(out / "checkpoint.pt")
        process = start(*run, out=out, log=tmp_path / f"log{kill}")

        def wrote_a_checkpoint(before=before):
            return modified(out / "checkpoint.pt") not in (before, None)

        wait_until(wrote_a_checkpoint, process, f"a checkpoint before kill {kill + 1}")
        time.sleep(chance.uniform(0, 0.05))  # anywhere: inside a step, a log write, a checkpoint write
        process.kill()
        process.wait(TIMEOUT)
        assert RunCheckpoints(out).load_newest()["step"] < steps, "the run finished before it was killed"
    assert main(["train", *run, "--out", str(out)]) == 0
    assert not list(out.glob(".*.tmp"))
    straight = tmp_path / "straight"
    assert main(["train", *run, "--out", str(straight)]) == 0
    assert_same_run(straight, out)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's worker through /proc")
def test_torchrun_restarts_a_killed_worker_and_the_run_reaches_its_last_step(tmp_path):
    out, steps = tmp_path / "run", 400
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]
    command += ["--max-restarts", "1", "-m", "fastgen", "train", *TINY, "--steps", str(steps)]
    command += ["--checkpoint-every", "10", "--auto-resume", "--out", str(out)]
    with (tmp_path / "log").open("w") as sink:
        launcher = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environment(), cwd=tmp_path)
    wait_until(lambda: (out / "checkpoint.pt").exists(), launcher, "the worker's first checkpoint")
    workers = children(launcher.pid)
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)
    assert launcher.wait(TIMEOUT) == 0, (tmp_path / "log").read_text()[-3000:]
    assert "resuming from step" in (tmp_path / "log").read_text()
    assert torch.load(out / "checkpoint.pt")["step"] == steps


class SignalAt(Callback):
    """Sends this process SIGTERM after step ``step`` on rank ``rank`` (as a scheduler might, to one process)."""

    every_rank = True

    def __init__(self, rank: int, step: int):
        self.rank, self.step = rank, step

    def on_step(self, trainer, losses) -> None:
        if distributed.rank() == self.rank and trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def refuse_on_rank_0():
    raise UsageError("--out", f"refused by rank {distributed.rank()}")


def decide_then_stop(rank, out_dir, results):
    answer = _decided_by_rank_0(lambda: f"rank {distributed.rank()}'s view")
    try:
        _decided_by_rank_0(refuse_on_rank_0)
        refusal = "none"
    except UsageError as error:
        refusal = str(error)
    trainer = make("regression", out_dir, steps=50, batch_size=4)
    trainer.callbacks.append(SignalAt(rank=1, step=3))
    with graceful_stop():
        try:
            trainer.fit()
            stopped = "not stopped"
        except Interrupted as stop:
            stopped = f"stopped at step {stop.step}"
    (results / f"rank{rank}").write_text(f"{answer} | {refusal} | {stopped}")


def test_ranks_follow_rank_0s_decisions_and_a_signal_to_one_rank_stops_all_with_a_checkpoint(tmp_path):
    out, results = tmp_path / "run", tmp_path / "results"
    results.mkdir()
    run_ranks(functools.partial(decide_then_stop, out_dir=out, results=results))
    # The signal reaches rank 1 after step 3's loss all-reduce (in on_step), so the ranks learn of it
    # from step 4's, which carries the stop flag with the losses: both stop at step 4, together.
    expected = "rank 0's view | argument --out: refused by rank 0 | stopped at step 4"
    assert [(results / f"rank{r}").read_text() for r in range(2)] == [expected, expected]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4


def train_into_a_file(rank, out_file, results):
    """``fastgen train`` on every rank with --out naming a file: rank 0 refuses it for all."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(["train", "dcgan", "--out", str(out_file), "--steps", "1"])
    (results / f"rank{rank}").write_text(f"{status}|{stderr.getvalue()}")


def test_a_usage_error_decided_by_rank_0_is_printed_once_and_ends_every_rank(tmp_path):
    out_file, results = tmp_path / "not-a-folder", tmp_path / "results"
    out_file.write_text("")
    results.mkdir()
    run_ranks(functools.partial(train_into_a_file, out_file=out_file, results=results))
    line = f"fastgen train: error: argument --out: {out_file} is a file, not a folder\n"
    assert [(results / f"rank{r}").read_text() for r in range(2)] == [f"2|{line}", "2|"]
