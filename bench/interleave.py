"""Timing several providers interleaved, for ratios that hold on a machine whose speed drifts.

pytest-benchmark times one test after another: the fused op's group and its baseline's are
measured seconds to minutes apart, and on a shared 2-core VM the machine's speed moves by 10-30 %
over such spans (bench/RESULTS.md: the same corrupt_encode ratio read 0.83x and 1.58x in two
quiet runs). Here round r runs every provider once, back to back, in an order rotated each round,
so that a drift slows every provider alike and the ratio of the medians stays put.

`SUMMARY` collects one row per comparison; bench/conftest.py prints them after the benchmark
tables.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Comparison:
    """One row of bench/bench_side_by_side.py, stated in the op's own benchmark module
    (``SIDE_BY_SIDE`` in bench/bench_<module>.py; bench/ops.py finds them)."""

    label: str
    make_step: Callable[[str], Callable[[], None]]  # provider -> one forward+backward step
    bars: dict  # baseline provider -> minimum speed-up of the fused op
    rounds: int
    iterations: int  # steps per round: 20 for sub-millisecond steps, so that timer jitter averages out


@dataclass
class Row:
    """One comparison's result: each provider's median seconds per step, and the bars."""

    label: str
    fused: str
    medians: dict[str, float]
    bars: dict[str, float] = field(default_factory=dict)  # baseline -> minimum speed-up

    def ratio(self, baseline: str) -> float:
        """How many times faster the fused step is than the baseline's."""
        return self.medians[baseline] / self.medians[self.fused]


SUMMARY: list[Row] = []


def interleaved_medians(
    steps: dict[str, Callable[[], None]],
    *,
    rounds: int,
    iterations: int = 1,
    warmup_rounds: int = 2,
    synchronize: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """Median seconds per call of each step over `rounds` interleaved rounds; in each round a
    step runs `iterations` times back to back (timed together, reported per call)."""
    names = list(steps)
    for _ in range(warmup_rounds):
        for name in names:
            steps[name]()
    synchronize()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)  # no provider always runs first (or right after the same one)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            for _ in range(iterations):
                steps[name]()
            synchronize()
            samples[name].append((time.perf_counter() - start) / iterations)
    return {name: statistics.median(values) for name, values in samples.items()}


def benchmark_medians(
    benchmark, steps: dict[str, Callable[[], None]], *, rounds: int, iterations: int, synchronize
) -> dict[str, float]:
    """``interleaved_medians`` with two warm-up rounds when pytest-benchmark times, and every step
    called once, untimed, under --benchmark-disable (the CI smoke)."""
    timed = not benchmark.disabled
    return interleaved_medians(
        steps,
        rounds=rounds if timed else 1,
        iterations=iterations if timed else 1,
        warmup_rounds=2 if timed else 0,
        synchronize=synchronize,
    )


def record(benchmark, row: Row, step: Callable[[], None], *, group: str, iterations: int, synchronize) -> None:
    """Add ``row`` to the summary (when timed), its medians and ratios to ``extra_info``, and let
    pytest-benchmark time the fused ``step`` alone for its own table (once under --benchmark-disable)."""
    timed = not benchmark.disabled
    if timed:
        SUMMARY.append(row)
    benchmark.group = group
    benchmark.extra_info["interleaved_median_ms"] = {name: round(t * 1e3, 4) for name, t in row.medians.items()}
    benchmark.extra_info["speedup"] = {baseline: round(row.ratio(baseline), 3) for baseline in row.bars}
    benchmark.extra_info["bars"] = dict(row.bars)

    def timed_step():
        step()
        synchronize()

    benchmark.pedantic(timed_step, rounds=3 if timed else 1, iterations=iterations if timed else 1)


def format_summary(rows: list[Row]) -> list[str]:
    """The rows as a table: fused step, each baseline's ratio and whether it meets its bar."""
    lines = ["fused op vs plain PyTorch, timed interleaved (ratio = baseline median / fused median):"]
    for row in rows:
        cells = []
        for baseline, bar in row.bars.items():
            ratio = row.ratio(baseline)
            verdict = "ok" if ratio >= bar else f"BELOW {bar:.2f}x"
            cells.append(f"{baseline} {ratio:.2f}x ({verdict})")
        fused_ms = row.medians[row.fused] * 1e3
        lines.append(f"  {row.label} [{row.fused} {fused_ms:.3f} ms]: " + "; ".join(cells))
    return lines
