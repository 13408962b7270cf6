"""`fastgen.cli.main`'s one error policy, as the metric commands meet it: their ``run`` raises and
``main`` reports (one line, exit 2 for a usage error, 1 for a bad file or value); an error another
process reports exits quietly with the same code; the process group a command started is left
however the command ends."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch.distributed as dist

import fastgen.metrics.extract as extract
from fastgen.cli import main
from fastgen.metrics.extract import PeerFailedError
from tests.cli.test_train_cli import cli, one_line_error


@pytest.fixture
def feature_files(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(20, 4)).astype(np.float32))
    np.save(tmp_path / "wide.npy", rng.normal(size=(20, 6)).astype(np.float32))
    return tmp_path / "a.npy", tmp_path / "wide.npy"


def test_a_metric_command_error_is_reported_by_main_once(feature_files, capsys):
    a, wide = feature_files
    code, out, err = cli(["fid", a, wide], capsys)  # a ValueError about the inputs
    assert code == 1 and out == ""
    assert one_line_error(err).startswith("fastgen fid: error: the inputs have different feature dimensions")

    code, out, err = cli(["fid", a, a.parent / "missing.npy"], capsys)  # a UsageError naming the argument
    assert code == 2 and out == ""
    assert one_line_error(err).startswith("fastgen fid: error: argument B: ")


def test_an_error_a_peer_reports_exits_quietly_with_its_code(feature_files, monkeypatch, capsys):
    """PeerFailedError: another rank met an unreadable image and prints it; this one prints nothing."""
    from fastgen import distributed

    a, _ = feature_files
    monkeypatch.setattr(distributed, "all_reduce_sum", lambda values: [1.0])  # the other rank skipped one

    def peer_failed(*args, **kwargs):
        extract._check_skipped([], skip_bad=False, world=2)  # what a rank with no bad image of its own meets

    monkeypatch.setattr(extract, "compute_statistics", peer_failed)
    # inside a source's computation: restated as the source's UsageError (exit 2, as on the rank
    # that reports it), and still not printed here
    code, out, err = cli(["fid", a, a], capsys)
    assert (code, out, err) == (2, "", "")

    import fastgen.cli.fid

    monkeypatch.setattr(fastgen.cli.fid, "run", peer_failed)  # raised bare: fastgen's ValueError, exit 1
    with pytest.raises(PeerFailedError):
        peer_failed()
    code, out, err = cli(["fid", a, a], capsys)
    assert (code, out, err) == (1, "", "")


def test_the_process_group_is_left_when_the_command_fails(feature_files, monkeypatch, capsys):
    """A one-process gloo group, as torchrun would start it: gone after an error and after success."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", str(port))
    a, wide = feature_files

    seen = []
    real = extract.compute_statistics

    def watching(*args, **kwargs):
        seen.append(dist.is_initialized())
        return real(*args, **kwargs)

    monkeypatch.setattr(extract, "compute_statistics", watching)
    code, _, err = cli(["fid", a, wide, "--device", "cpu"], capsys)
    assert code == 1 and "different feature dimensions" in one_line_error(err)
    assert seen and all(seen) and not dist.is_initialized()

    seen.clear()
    assert main(["fid", str(a), str(a), "--device", "cpu"]) == 0
    assert seen and all(seen) and not dist.is_initialized()
