"""`fastgen train --eval-ref`: Inception FID/KID of the generator in memory, logged and plotted.

Reference: the FID logged at the last step equals `fastgen fid REF RUN` on the run's final
checkpoint with the same sample count and seed (the same generated images, the same network);
random FID-Inception weights stand in for the real file, which cannot be downloaded here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.cli.test_metric_sources_cli import DIGITS_GAN
from tests.cli.test_train_cli import cli, one_line_error


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from fastgen.metrics.inception import random_fid_state_dict

    path = tmp_path_factory.mktemp("weights") / "inception.pth"
    torch.save(random_fid_state_dict(seed=1), path)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Six 8×8 gray PNGs of scikit-learn's digits."""
    from fastgen.data import load_dataset

    folder = tmp_path_factory.mktemp("reference")
    images, _ = load_dataset("digits", train=False)
    for index in range(6):
        pixels = (images.data[index, 0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    return folder


@pytest.mark.slow
def test_logged_inception_fid_equals_fastgen_fid_of_the_run(tmp_path, capsys, weights, reference):
    out = tmp_path / "run"
    arguments = [*DIGITS_GAN, "--steps", "2", "--eval-every", "2", "--eval-samples", "10", "--out", out]
    code, stdout, err = cli([*arguments, "--eval-ref", reference, "--eval-weights", weights], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = {r["step"]: r["eval"] for r in records if "inception_fid" in r.get("eval", {})}
    assert sorted(logged) == [0, 2] and all("inception_kid" in e for e in logged.values())
    code, stdout, err = cli(
        ["fid", reference, out, "--num-samples", 10, "--weights", weights, "--no-progress", "--json"], capsys
    )
    assert code == 0, err
    assert logged[2]["inception_fid"] == pytest.approx(json.loads(stdout)["fid"], rel=1e-6)


def test_missing_weights_are_one_line_before_anything_is_written(tmp_path, capsys, monkeypatch, reference):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    out = tmp_path / "run"
    code, _, err = cli([*DIGITS_GAN, "--steps", "1", "--out", out, "--eval-ref", reference], capsys)
    line = one_line_error(err)
    assert code == 2 and "--eval-weights" in line and "pt_inception-2015-12-05-6726825d.pth" in line
    assert not out.exists()
    code, _, err = cli([*DIGITS_GAN, "--steps", "1", "--out", out, "--eval-ref", tmp_path / "nope.npz"], capsys)
    assert code == 2 and "--eval-ref" in one_line_error(err) and not out.exists()
