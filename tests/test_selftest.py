"""fastgen selftest: passes on the backends of this machine, and catches a backend that is wrong."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fastgen
from fastgen import selftest
from fastgen.cli import main

ROOT = Path(__file__).resolve().parents[1]
CPU = [torch.device("cpu")]


def test_every_row_passes_for_one_op_on_every_cpu_backend():
    rows = selftest.run(CPU, op_names={"ls_discriminator_loss"})
    backends = {name for device, name in selftest.targets(CPU)}
    assert {r.backend for r in rows} == backends
    assert {r.dtype for r in rows} == {"float32", "float16", "bfloat16", "float64"}
    assert all(r.ok for r in rows), selftest.format_table(rows)
    # float64 on triton is declined by the backend, not compared
    assert {(r.backend, r.dtype) for r in rows if r.status == "skip"} <= {("triton", "float64")}
    for r in rows:
        if r.status == "ok":
            assert r.error <= r.tolerance and r.tolerance > 0


def test_uniforms_are_compared_bit_for_bit():
    rows = selftest.run(CPU, op_names={"philox_uniform"})
    assert rows and all(r.ok and r.tolerance == 0.0 and r.error == 0.0 for r in rows)


def test_a_wrong_backend_fails(monkeypatch):
    """A backend whose gradient is off by 1e-3 (in float32) is reported as FAIL with the output named."""

    def off_by_a_little(x, backend):
        loss = fastgen.ops.ls_generator_loss(x[0], 1.0, backend=backend)
        return (loss if backend == "torch" else loss + 1e-3 * x[0].sum(),)

    case = next(c for c in selftest.cases() if c.name == "ls_generator_loss")
    wrong = dataclasses.replace(case, call=off_by_a_little, dtypes=(torch.float32,))
    monkeypatch.setattr(selftest, "cases", lambda: [wrong])
    rows = selftest.run(CPU, backend_names={"torch", "cpp"})
    by_backend = {r.backend: r for r in rows}
    assert by_backend["torch"].status == "ok"
    assert by_backend["cpp"].status == "FAIL"
    assert by_backend["cpp"].worst.split(" [")[0] in ("loss", "grad d_fake")


def test_cli_prints_the_table_and_exits_0(capsys):
    assert main(["selftest", "--op", "ls_generator_loss", "--backend", "cpp", "--cpu-only"]) == 0
    out = capsys.readouterr().out
    assert "op" in out and "max error" in out and "tolerance" in out
    assert "4 ok, 0 failed, 0 skipped" in out


def test_cli_refuses_an_unknown_op_in_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "fastgen", "selftest", "--op", "nope"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 2
    assert "argument --op: invalid choice: 'nope'" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the interpreter path is taken only without a GPU")
def test_cli_switches_triton_to_its_interpreter_without_a_gpu():
    """Started without TRITON_INTERPRET, the command reruns itself with it, so triton rows appear."""
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "fastgen", "selftest", "--op", "philox_uniform", "--cpu-only"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "triton@cpu" in out.stdout and "3 ok, 0 failed" in out.stdout
