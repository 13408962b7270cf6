"""`fastgen kid`, `fastgen prc`, `fastgen is`: what they print, against the references on the same
features/logits, and their mistakes in one line before any work.

References: torch-fidelity's ``isc_features_to_metric`` (its default shuffle, RandomState(2020)),
``kid_features_to_metric`` and ``calculate_precision_recall_full`` on the same matrices, with its
``input1`` = the generated set. The CLI prints 6 significant digits, so values are compared at
1e-5 relative (plus the printing step near 0).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.cli.test_train_cli import cli, one_line_error

torch_fidelity = pytest.importorskip("torch_fidelity", reason="torch-fidelity is a test dependency")


@pytest.fixture
def matrices(tmp_path):
    rng = np.random.default_rng(5)
    real = rng.normal(0.0, 1.0, size=(60, 8)).astype(np.float32)
    fake = rng.normal(0.4, 1.2, size=(50, 8)).astype(np.float32)
    logits = (3 * rng.normal(size=(53, 10))).astype(np.float32)
    np.save(tmp_path / "real.npy", real)
    torch.save(torch.from_numpy(fake), tmp_path / "fake.pt")
    np.save(tmp_path / "logits.npy", logits)
    return real, fake, logits


def test_is_equals_torch_fidelity_isc_on_the_same_logits(tmp_path, matrices, capsys):
    from torch_fidelity.metric_isc import isc_features_to_metric

    *_, logits = matrices
    for splits in (10, 3):
        code, out, err = cli(["is", tmp_path / "logits.npy", "--splits", splits, "--json"], capsys)
        assert code == 0 and err == "", err
        ours = json.loads(out)
        expected = isc_features_to_metric(torch.from_numpy(logits), splits=splits)
        assert ours["is_mean"] == pytest.approx(expected["inception_score_mean"], rel=1e-12)
        assert ours["is_std"] == pytest.approx(expected["inception_score_std"], rel=1e-9)
    code, out, _ = cli(["is", tmp_path / "logits.npy"], capsys)
    assert code == 0 and out.startswith("IS: ") and "±" in out


def test_kid_equals_torch_fidelity_kid_on_the_same_features(tmp_path, matrices, capsys):
    from torch_fidelity.metric_kid import kid_features_to_metric

    real, fake, _ = matrices
    arguments = ["kid", tmp_path / "real.npy", tmp_path / "fake.pt", "--subsets", 20, "--subset-size", 30]
    code, out, err = cli([*arguments, "--subset-seed", 4, "--json"], capsys)
    assert code == 0 and err == "", err
    ours = json.loads(out)
    expected = kid_features_to_metric(
        torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=20, kid_subset_size=30, rng_seed=4, verbose=False
    )
    assert ours["kid_mean"] == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-5, abs=1e-7)
    assert ours["kid_std"] == pytest.approx(expected["kernel_inception_distance_std"], rel=1e-5, abs=1e-7)


def test_prc_equals_torch_fidelity_precision_recall(tmp_path, matrices, capsys):
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    real, fake, _ = matrices
    code, out, err = cli(["prc", tmp_path / "real.npy", tmp_path / "fake.pt", "--json"], capsys)
    assert code == 0 and err == "", err
    ours = json.loads(out)
    precision, recall = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), 3)
    assert ours["precision"] == pytest.approx(float(precision)) and ours["recall"] == pytest.approx(float(recall))
    assert 0 <= ours["coverage"] <= 1 and ours["density"] > 0 and ours["real"] == 60 and ours["fake"] == 50


@pytest.mark.parametrize(
    ("arguments", "needle", "status"),
    [
        (["kid", "REAL", "FAKE"], "argument REAL: {real} gives 60 samples, fewer than 1000", 2),
        (["kid", "REAL", "FAKE", "--subset-size", 55], "argument FAKE: {fake} gives 50 samples, fewer than 55", 2),
        (["prc", "REAL", "FAKE", "--k", 50], "argument FAKE: {fake} gives 50 samples, fewer than 51", 2),
        (["prc", "REAL", "FAKE", "--dc-k", 60], "argument REAL: {real} gives 60 samples, fewer than 61", 2),
        (["is", "LOGITS", "--splits", 60], "argument FOLDER: {logits} gives 53 samples, fewer than 60", 2),
        (["kid", "REAL", "WIDE", "--subset-size", 10], "different feature sizes", 1),
        (["kid", "STATS", "FAKE"], "argument REAL: {stats} holds statistics (mean, covariance)", 2),
        (["kid", "STRINGS", "FAKE"], "argument REAL: source {strings} must hold an [N, d] float matrix", 2),
        (["prc", "REAL", "MISSING"], "argument FAKE: {missing} does not exist", 2),
        (["kid", "REAL", "FAKE", "--num-samples", 5], "argument --num-samples: applies to a run folder", 2),
    ],
)
def test_mistakes_are_one_line_naming_the_argument_and_file(tmp_path, matrices, capsys, arguments, needle, status):
    """A UsageError (a source or option found wrong) exits with 2; a ValueError about the inputs with 1."""
    np.save(tmp_path / "wide.npy", np.zeros((20, 9), np.float32))
    np.savez(tmp_path / "stats.npz", mu=np.zeros(8), sigma=np.eye(8))
    np.save(tmp_path / "strings.npy", np.full((20, 8), "x"))  # torch.from_numpy raises TypeError on these
    files = {
        "REAL": tmp_path / "real.npy",
        "FAKE": tmp_path / "fake.pt",
        "LOGITS": tmp_path / "logits.npy",
        "WIDE": tmp_path / "wide.npy",
        "STATS": tmp_path / "stats.npz",
        "STRINGS": tmp_path / "strings.npy",
        "MISSING": tmp_path / "missing.npy",
    }
    code, out, err = cli([files.get(a, a) for a in arguments], capsys)
    assert code == status and out == ""
    assert needle.format(**{k.lower(): v for k, v in files.items()}) in one_line_error(err)


def test_big_endian_features_read_as_their_native_twins(tmp_path, matrices, capsys):
    real, *_ = matrices
    np.save(tmp_path / "big.npy", real.astype(">f4"))
    _, native, _ = cli(["kid", tmp_path / "real.npy", tmp_path / "fake.pt", "--subset-size", 20], capsys)
    code, big, err = cli(["kid", tmp_path / "big.npy", tmp_path / "fake.pt", "--subset-size", 20], capsys)
    assert code == 0 and big == native and native.startswith("KID: "), err
