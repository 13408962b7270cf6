"""The interleaved timer behind bench/bench_side_by_side.py: rounds rotate the providers' order,
times are per call, and the summary judges each ratio against its bar."""

from bench import interleave
from bench.interleave import Row, format_summary, interleaved_medians


def test_rounds_rotate_the_order_and_time_each_call(monkeypatch):
    calls = []
    clock = iter(range(1000))
    monkeypatch.setattr(interleave.time, "perf_counter", lambda: float(next(clock)))
    steps = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    medians = interleaved_medians(steps, rounds=3, iterations=2, warmup_rounds=1)
    # One warm-up round in order, then rounds starting at a, b, c in turn, each step twice.
    assert calls[:3] == ["a", "b", "c"]
    firsts = [calls[3 + 6 * r] for r in range(3)]
    assert firsts == ["a", "b", "c"]
    assert calls[3:9] == ["a", "a", "b", "b", "c", "c"]
    # Each timed span reads the fake clock twice, one tick apart: 1 s for 2 calls.
    assert medians == {"a": 0.5, "b": 0.5, "c": 0.5}


def test_summary_judges_each_ratio_against_its_bar():
    row = Row("op", "cpp", {"cpp": 1.0, "eager": 1.5, "compile": 0.8}, {"eager": 1.0, "compile": 1.0})
    assert row.ratio("eager") == 1.5
    line = format_summary([row])[1]
    assert "eager 1.50x (ok)" in line
    assert "compile 0.80x (BELOW 1.00x)" in line
