"""scripts/gpu_check.sh: valid bash, and a dry run without a GPU skips the GPU phases cleanly."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
PHASES = ("environment", "install", "info", "selftest", "cuda-tests", "op-tests", "bench", "train-bench", "aot")


def test_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_usage_error_without_outdir():
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip() == "usage: scripts/gpu_check.sh OUTDIR"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the dry run is the no-GPU path")
@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_dry_run_without_gpu_skips_gpu_phases(tmp_path):
    env = {**os.environ, "SKIP": "aot", "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = (tmp_path / "summary.txt").read_text().splitlines()
    status = {line.split()[0]: line.split(None, 1)[1] for line in summary if line.split()[0] in PHASES}
    assert set(status) == set(PHASES)
    assert status["environment"].startswith("ok")
    for phase in ("install", "info", "selftest", "cuda-tests", "op-tests", "bench", "train-bench"):
        assert status[phase].startswith("skipped (no GPU visible)"), status
    assert status["aot"].startswith("skipped (SKIP)")
    assert (tmp_path / "environment.log").exists()


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_a_failing_phase_fails_the_run_but_not_the_later_phases(tmp_path):
    """PYTHON pointing at a program that fails: the environment phase fails, the later phases still
    get their turn, the exit status is 1."""
    env = {**os.environ, "SKIP": "aot", "PYTHON": "false"}
    out = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1
    lines = (tmp_path / "summary.txt").read_text().splitlines()
    status = {line.split()[0]: line.split(None, 1)[1] for line in lines if line.split()[0] in PHASES}
    assert status["environment"].startswith("FAILED (exit 1)"), status
    assert set(status) == set(PHASES)
