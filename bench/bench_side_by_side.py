"""The fused ops against the plain PyTorch a user would write, timed interleaved
(bench/interleave.py): the comparisons and bars of issue 7 item 5, in one table.

    pytest bench/bench_side_by_side.py --benchmark-only

Each test builds the steps of the op's own benchmark module (`make_step`: the same inputs, the
same providers), times the fused step and its baselines in interleaved rounds, and records their
medians and ratios in extra_info; the terminal summary prints the table, each ratio with its bar
(a speed-up of at least 1.0x). pytest-benchmark's own row per test times the fused step alone.
With --benchmark-disable (the CI smoke) every step runs once, untimed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bench import bench_corrupt_encode, bench_ls_loss, bench_reparameterize
from bench.conftest import compiled_backends, synchronize
from bench.interleave import Row, interleaved_medians, record


@dataclass(frozen=True)
class Comparison:
    label: str
    make_step: Callable[[str], Callable[[], None]]  # provider -> one forward+backward step
    bars: dict  # baseline provider -> minimum speed-up of the fused op
    rounds: int
    iterations: int  # steps per round: 20 for sub-millisecond steps, so that timer jitter averages out


def _steps(module, *args):
    return lambda provider: module.make_step(provider, *args)


_PLAIN_AND_COMPILED = {"eager(torch-rng)": 1.0, "compile(torch-rng)": 1.0}

COMPARISONS = [
    Comparison("reparameterize 4096x1024", _steps(bench_reparameterize, "4096x1024"), _PLAIN_AND_COMPILED, 15, 1),
    Comparison("reparameterize 128x32", _steps(bench_reparameterize, "vae-128x32"), _PLAIN_AND_COMPILED, 40, 20),
    *(
        Comparison(
            f"corrupt_encode {shape}" + (", x data" if x_role == "x-data" else ""),
            _steps(bench_corrupt_encode, shape, x_role),
            {"eager(torch-rng)": 1.0},
            rounds,
            1,
        )
        for shape, rounds in (("256x784->1024", 60), ("1024x784->1024", 30))
        for x_role in ("x-grad", "x-data")
    ),
    Comparison("ls_loss D+G 2^20 scores", _steps(bench_ls_loss, "1048576"), {"reference-compile": 1.0}, 40, 1),
    Comparison("ls_loss D+G 64 scores", _steps(bench_ls_loss, "64"), {"reference-eager": 1.0}, 40, 20),
]


@pytest.mark.parametrize("backend", compiled_backends())
@pytest.mark.parametrize("comparison", COMPARISONS, ids=[c.label.replace(" ", "-") for c in COMPARISONS])
def test_side_by_side(benchmark, comparison, backend):
    steps = {backend: comparison.make_step(backend)}
    steps.update({baseline: comparison.make_step(baseline) for baseline in comparison.bars})
    timed = not benchmark.disabled
    medians = interleaved_medians(
        steps,
        rounds=comparison.rounds if timed else 1,
        iterations=comparison.iterations if timed else 1,
        warmup_rounds=2 if timed else 0,
        synchronize=synchronize,
    )
    row = Row(comparison.label, backend, medians, dict(comparison.bars))
    group = "side by side: the fused step alone (ratios: extra_info and the summary)"
    record(benchmark, row, steps[backend], group=group, iterations=comparison.iterations, synchronize=synchronize)
