"""`torchrun -m fastgen stats` / `fid`: images sharded over 2 gloo processes equal one process.

Each process takes a contiguous share of the sorted files and the FeatureStats are all-reduced
(shifted sums, float64). Both runs use one thread and batches of one image, so that every image's
float32 features are computed by the same kernels in both (oneDNN's choice can depend on the batch
and thread count, which moves features by ~1e-8); the statistics then agree to float64 rounding of
the merge: 1e-10 relative to the largest entry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fastgen.metrics.stats import FeatureStats

TORCHRUN = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="torchrun is not installed next to this Python"),
]


@pytest.fixture
def folder(tmp_path):
    """11 images: an odd count, so that the two shards differ in size (5 and 6)."""
    rng = np.random.default_rng(8)
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(11):
        Image.fromarray(rng.integers(0, 256, size=(28, 28), dtype=np.uint8)).save(folder / f"{index:02d}.png")
    return folder


def fastgen(*argv, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    launcher = [TORCHRUN, "--standalone", "--nproc-per-node", str(processes)] if processes > 1 else [sys.executable]
    command = [*launcher, "-m", "fastgen", *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_two_processes_equal_one(tmp_path, folder):
    options = ["--extractor", "digits", "--num-workers", "0", "--no-progress", "--batch-size", "1"]
    done = fastgen("stats", folder, "-o", tmp_path / "two.npz", *options)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "statistics of 11 images over 2 processes" in done.stdout
    done = fastgen("stats", folder, "-o", tmp_path / "one.npz", *options, processes=1)
    assert done.returncode == 0, done.stderr[-3000:]
    two, one = FeatureStats.load(tmp_path / "two.npz"), FeatureStats.load(tmp_path / "one.npz")
    assert two.count == one.count == 11
    for name in ("mean", "cov"):
        expected = getattr(one, name)
        assert (getattr(two, name) - expected).abs().max() <= 1e-10 * expected.abs().max()

    done = fastgen("fid", folder, tmp_path / "one.npz", *options)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("FID: ") == 1  # rank 0 prints
    assert abs(float(done.stdout.split("FID: ")[1].split()[0])) <= 1e-6


def test_an_unreadable_image_on_one_rank_stops_both_with_one_message(tmp_path, folder):
    broken = folder / "09.png"  # in rank 1's share
    broken.write_bytes(b"")
    done = fastgen("stats", folder, "-o", tmp_path / "s.npz", "--extractor", "digits", "--num-workers", "0")
    assert done.returncode != 0
    assert str(broken) in done.stderr and not (tmp_path / "s.npz").exists()
