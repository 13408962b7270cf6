"""scripts/triton_aot.py: the specialisation it derives from a launch, and a real --quick run on
one kernel for both archs (needs no GPU: Triton compiles for a GPUTarget)."""

import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "triton_aot.py"

triton = pytest.importorskip("triton")


def _load_script():
    spec = importlib.util.spec_from_file_location("triton_aot", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    # The script clears TRITON_INTERPRET for its own process; the tests that run after this one in
    # the same pytest process still need it (selftest and backends read it at call time).
    interpret = os.environ.get("TRITON_INTERPRET")
    try:
        spec.loader.exec_module(module)
    finally:
        if interpret is not None:
            os.environ["TRITON_INTERPRET"] = interpret
    return module


def test_spec_follows_triton_integer_specialisation():
    """Ints divisible by 16 carry tt.divisibility, an int equal to 1 becomes a constant, ints past
    int32 are i64, pointers take the tensor's dtype -- the rules of Triton's JIT."""
    from fastgen.ops.triton import reparameterize

    aot = _load_script()
    (_, forward), *_ = reparameterize.aot_cases((3, 1), torch.float16)
    spec = aot.spec_of(forward)
    names = list(inspect.signature(forward.kernel.fn).parameters)
    assert spec.signature["mu_ptr"] == "*fp16"
    assert spec.signature["d"] == "constexpr" and spec.constexprs["d"] == 1
    assert spec.signature["rows"] == "i32" and (names.index("rows"),) not in spec.attrs  # 3 % 16 != 0
    assert spec.signature["seed"] == "i64"
    assert spec.constexprs["BLOCK_D"] == 1 and spec.constexprs["HAS_EPS"] is False

    (_, forward), *_ = reparameterize.aot_cases((128, 32), torch.float32)
    spec = aot.spec_of(forward)
    assert spec.signature["d"] == "i32" and spec.attrs[(names.index("d"),)] == [["tt.divisibility", 16]]


def test_every_module_plans_its_launches_on_meta_tensors():
    """The AOT cases come from the launchers' own planning code, for every module and dtype."""
    aot = _load_script()
    jobs = aot.plan(quick=False, only=None)
    kernels = {(job.module, aot.kernel_name(aot._launch_of(job)[1])) for job in jobs}
    # every kernel (a jitted function whose name ends in _kernel) of every module is compiled
    declared = set()
    for module_name in aot.MODULES:
        module = importlib.import_module(f"fastgen.ops.triton.{module_name}")
        declared |= {
            (module_name, name)
            for name, value in vars(module).items()
            if name.endswith("_kernel") and hasattr(value, "fn")  # JITFunction or its interpreted twin
        }
    assert kernels == declared
    assert {job.arch for job in jobs} == {80, 90}
    quick = {(job.module, aot.kernel_name(aot._launch_of(job)[1]), job.arch) for job in aot.plan(True, None)}
    assert quick == {(module, kernel, arch) for module, kernel in declared for arch in (80, 90)}


@pytest.mark.slow
def test_quick_run_compiles_one_module_for_both_archs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "cache")  # compile for real, not from an earlier run's cache
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "ls_loss"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "4 compiled, 0 failed"
    rows = [line for line in lines if line.startswith("ls_loss.")]
    assert {(row.split()[0], "sm_80" in row, "sm_90" in row) for row in rows} == {
        ("ls_loss._partial_kernel", True, False),
        ("ls_loss._partial_kernel", False, True),
        ("ls_loss._sum_kernel", True, False),
        ("ls_loss._sum_kernel", False, True),
    }


def test_unknown_module_is_one_line():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "nope"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert out.returncode == 2
    assert "--only must name one of" in out.stderr and "Traceback" not in out.stderr
