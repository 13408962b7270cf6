"""The benchmarks of the registered ops: ``bench/bench_<module>.py`` for each op module
``fastgen/ops/<module>.py`` that has one (``fastgen.ops.registry()`` names the modules), and the
comparisons with plain PyTorch each states as ``SIDE_BY_SIDE``.

    python -m bench.ops    # the benchmark files with comparisons (scripts/gpu_check.sh runs them)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from fastgen.ops import registry

HERE = Path(__file__).resolve().parent


def op_benchmarks() -> list[ModuleType]:
    """The benchmark modules of the registered ops' modules, in registration order."""
    modules = []
    for module in dict.fromkeys(op.module.rsplit(".", 1)[-1] for op in registry()):
        if (HERE / f"bench_{module}.py").exists():
            modules.append(importlib.import_module(f"bench.bench_{module}"))
    return modules


def comparisons() -> list:
    """Every op benchmark's comparisons with plain PyTorch (``bench.interleave.Comparison``)."""
    return [comparison for module in op_benchmarks() for comparison in getattr(module, "SIDE_BY_SIDE", ())]


if __name__ == "__main__":
    root = HERE.parent
    for module in op_benchmarks():
        if getattr(module, "SIDE_BY_SIDE", None):
            print(Path(module.__file__).resolve().relative_to(root))
