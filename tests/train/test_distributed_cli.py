"""`fastgen train` under torchrun on this CPU: 2 processes on one machine, and 2 loopback "nodes".

Each run is a tiny DCGAN for a few steps (gloo, 127.0.0.1), with a timeout.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastgen.train import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # seconds per command: starting torch in 2 processes on 2 busy cores takes a while
TINY_RUN = ["dcgan", "--image-size", "28", "--option", "width=4", "--option", "latent_dim=8", "--batch-size", "4",
            "--eval-every", "2", "--sample-every", "2", "--checkpoint-every", "2", "--eval-samples", "20",
            "--no-progress"]  # fmt: skip


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}  # fmt: skip


def fastgen_train(*args, launcher=(), background=False):
    command = [sys.executable, *launcher, "-m", "fastgen", "train", *map(str, args)]
    if background:
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        return subprocess.Popen(command, cwd=ROOT, env=_env(), text=True, **pipes)
    result = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def torchrun(*options):
    return ["-m", "torch.distributed.run", *options]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (30, 34, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def test_two_processes_train_a_streamed_folder_and_one_process_continues(tmp_path, image_folder):
    run = tmp_path / "run"
    two = fastgen_train(*TINY_RUN, "--data", image_folder, "--steps", 4, "--workers", 1, "--out", run,
                        launcher=torchrun("--standalone", "--nproc-per-node", "2"))  # fmt: skip
    assert two.stdout.count("done: 4 steps") == 1  # rank 0 alone reports
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2 and config["global_batch_size"] == 8 and config["batch_size"] == 4
    evals = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "eval" in r]
    assert [r["step"] for r in evals] == [0, 2, 4] and all(r["eval"]["digits_fid"] > 0 for r in evals)
    assert "digits_is" in evals[-1]["eval"] and "inception_score" not in evals[-1]["eval"]

    fastgen_train("dcgan", "--resume", "--out", run, "--steps", 6, "--no-progress")  # 2 -> 1 process
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 6
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 1 and config["global_batch_size"] == 4  # as the run continues now


def test_two_loopback_nodes_train_one_run(tmp_path):
    run, port = tmp_path / "run", _free_port()
    launcher = torchrun("--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "fastgen-test")  # fmt: skip
    nodes = [fastgen_train(*TINY_RUN, "--steps", 2, "--out", run, launcher=launcher, background=True) for _ in range(2)]
    try:
        outputs = [node.communicate(timeout=TIMEOUT) for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert [node.returncode for node in nodes] == [0, 0], [err[-3000:] for _, err in outputs]
    assert sum(out.count("done: 2 steps") for out, _ in outputs) == 1
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2


def test_sync_bn_on_the_cpu_is_refused_in_one_line_before_anything_is_written(tmp_path, capsys):
    from fastgen.cli import main

    assert main(["train", "dcgan", "--sync-bn", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "fastgen train: error: argument --sync-bn: needs a cuda device (SyncBatchNorm synchronises GPU batches only)"
    )
    assert not (tmp_path / "run").exists()
