"""The fused ops against the plain PyTorch a user would write, timed interleaved
(bench/interleave.py): the comparisons and bars of issue 7 item 5, in one table.

    pytest bench/bench_side_by_side.py --benchmark-only

The comparisons are stated in each op's own benchmark module (``SIDE_BY_SIDE`` in
bench/bench_<module>.py, found through the op registry by bench/ops.py), with the steps of that
module (``make_step``: the same inputs, the same providers). Each test times the fused step and
its baselines in interleaved rounds, and records their medians and ratios in extra_info; the
terminal summary prints the table, each ratio with its bar (a speed-up of at least 1.0x).
pytest-benchmark's own row per test times the fused step alone.
With --benchmark-disable (the CI smoke) every step runs once, untimed.
"""

from __future__ import annotations

import pytest

from bench.conftest import compiled_backends, synchronize
from bench.interleave import Row, benchmark_medians, record
from bench.ops import comparisons

COMPARISONS = comparisons()


@pytest.mark.parametrize("backend", compiled_backends())
@pytest.mark.parametrize("comparison", COMPARISONS, ids=[c.label.replace(" ", "-") for c in COMPARISONS])
def test_side_by_side(benchmark, comparison, backend):
    steps = {backend: comparison.make_step(backend)}
    steps.update({baseline: comparison.make_step(baseline) for baseline in comparison.bars})
    medians = benchmark_medians(
        benchmark, steps, rounds=comparison.rounds, iterations=comparison.iterations, synchronize=synchronize
    )
    row = Row(comparison.label, backend, medians, dict(comparison.bars))
    group = "side by side: the fused step alone (ratios: extra_info and the summary)"
    record(benchmark, row, steps[backend], group=group, iterations=comparison.iterations, synchronize=synchronize)
