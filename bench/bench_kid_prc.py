"""KID and precision/recall on feature matrices, side by side with torchmetrics and torch-fidelity,
timed interleaved (bench/interleave.py), and the peak memory of the all-pairs computations.

- ``kid``: ``fastgen.metrics.kid`` (subsets drawn first, each kernel matrix computed once in
  panels) against torchmetrics' ``KernelInceptionDistance.compute`` (three GEMMs per subset) and
  torch-fidelity's ``kid_features_to_metric`` (the same in numpy), default 100 subsets of 1,000;
- ``prc``: ``fastgen.metrics.precision_recall`` (k = 3) against torch-fidelity's
  ``prc_features_to_metric`` (its default: three full N × N distance matrices);
- ``memory``: the peak resident memory of ``kid(subsets=0)`` and of ``precision_recall`` at
  50,000 + 50,000 features, measured in a fresh subprocess (VmHWM above the resident set once the
  features exist); d = 64, since the panels, not the features, are what grows with N
  (50,000 × 2048 float32 features alone are 400 MB per set, whatever the metric).

Sizes: ``tiny`` (300 + 300 features, d = 64, 10 subsets of 100) runs in seconds, for CI's
``pytest bench --benchmark-disable`` smoke; the issue's sizes (``10k``: 10,000 + 10,000, d = 2048;
memory at 50k) take minutes on a 2-core machine and run when asked for:

    FASTGEN_BENCH_KID_PRC=full PYTHONPATH=$PWD pytest bench/bench_kid_prc.py --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from bench.conftest import device_name
from bench.interleave import SUMMARY, Row, interleaved_medians
from fastgen.metrics import kid, precision_recall

FULL = os.environ.get("FASTGEN_BENCH_KID_PRC") == "full"
_FULL_ONLY = pytest.mark.skipif(not FULL, reason="the issue's sizes take minutes: FASTGEN_BENCH_KID_PRC=full")


@dataclass(frozen=True)
class Size:
    n: int
    d: int
    subsets: int
    subset_size: int
    rounds: int


SIZES = {"tiny": Size(300, 64, 10, 100, 3), "10k": Size(10_000, 2048, 100, 1000, 3)}
SIZE_PARAMS = [pytest.param("tiny"), pytest.param("10k", marks=_FULL_ONLY)]
BARS = {"kid": {"torchmetrics": 2.0, "torch-fidelity": 1.5}, "prc": {"torch-fidelity": 1.5}}
MEMORY = {"tiny": (2_000, 16), "50k": (50_000, 64)}  # (N per set, d)


def features(n: int, d: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    """Non-negative float32 features, like pooled CNN activations."""
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(n, d, generator=g) * scale + 0.3)


def make_step(provider: str, task: str, size: str):
    """One full metric computation by ``provider`` on the size's features."""
    s = SIZES[size]
    real, fake = features(s.n, s.d, 0), features(s.n, s.d, 1, scale=1.1)
    if task == "kid":
        if provider == "fastgen":
            return lambda: kid(real, fake, s.subsets, s.subset_size)
        if provider == "torch-fidelity":
            from torch_fidelity.metric_kid import kid_features_to_metric

            options = dict(kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None)
            options.update(kid_kernel_poly_coef0=1, rng_seed=0, verbose=False)
            return lambda: kid_features_to_metric(
                fake, real, kid_subsets=s.subsets, kid_subset_size=s.subset_size, **options
            )
        if provider == "torchmetrics":
            from torchmetrics.image.kid import KernelInceptionDistance

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features"
                metric = KernelInceptionDistance(
                    feature=torch.nn.Identity(), subsets=s.subsets, subset_size=s.subset_size
                )
            metric.update(real, real=True)
            metric.update(fake, real=False)

            def compute():
                metric._computed = None  # torchmetrics caches compute()'s value until the next update
                return metric.compute()

            return compute
    if task == "prc":
        if provider == "fastgen":
            return lambda: precision_recall(real, fake, k=3)
        if provider == "torch-fidelity":
            from torch_fidelity.metric_prc import prc_features_to_metric

            options = dict(prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False, verbose=False)
            return lambda: prc_features_to_metric(fake, real, **options)
    raise ValueError(f"no provider {provider!r} for task {task!r}")


@pytest.mark.parametrize("size", SIZE_PARAMS)
@pytest.mark.parametrize("task", ["kid", "prc"])
def test_side_by_side(benchmark, task, size):
    steps = {"fastgen": make_step("fastgen", task, size)}
    steps.update({baseline: make_step(baseline, task, size) for baseline in BARS[task]})
    timed = not benchmark.disabled
    rounds = SIZES[size].rounds if timed else 1
    warmup = 1 if timed and size == "tiny" else 0  # no JIT here to warm; a 10k round takes minutes
    medians = interleaved_medians(steps, rounds=rounds, warmup_rounds=warmup)
    s = SIZES[size]
    label = f"{task} {s.n}+{s.n} d={s.d}" + (f", {s.subsets} subsets of {s.subset_size}" if task == "kid" else ", k=3")
    row = Row(label, "fastgen", medians, dict(BARS[task]) if size != "tiny" else {})
    if timed:
        SUMMARY.append(row)
    benchmark.group = f"{task} {size}: fastgen alone (ratios: extra_info and the summary)"
    benchmark.extra_info["device"] = device_name()
    benchmark.extra_info["interleaved_median_s"] = {name: round(t, 4) for name, t in medians.items()}
    benchmark.extra_info["speedup"] = {baseline: round(row.ratio(baseline), 3) for baseline in BARS[task]}
    if size == "tiny":  # seconds for CI's smoke; a tiny size's ratios measure Python overhead, not the bars
        print(f"\n{label}: " + ", ".join(f"{b} {row.ratio(b):.2f}x" for b in BARS[task]))
    benchmark.pedantic(steps["fastgen"], rounds=1, iterations=1)


# Run in a fresh interpreter that imports nothing of bench/ (its conftest changes malloc's thresholds).
_MEMORY_PROBE = """
import json, torch
from fastgen.metrics import kid, precision_recall

def resident_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

n, d = {n}, {d}
g = torch.Generator().manual_seed(0)
real, fake = (torch.relu(torch.randn(n, d, generator=g) * scale + 0.3) for scale in (1.0, 1.1))
results = {{}}
for task, metric in (("kid", lambda: kid(real, fake, subsets=0)), ("prc", lambda: precision_recall(real, fake))):
    start = resident_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak resident set (VmHWM) starts again from the current one
    value = metric()
    results[task] = {{"peak_above_start_mib": (resident_kib("VmHWM") - start) / 1024,
                     "peak_total_mib": resident_kib("VmHWM") / 1024, "value": value}}
print(json.dumps(results))
"""


def measure_peak_memory(n: int, d: int) -> dict:
    """Peak resident memory of kid(subsets=0) and of precision_recall, one after the other in a
    fresh process (Linux): each's VmHWM above the resident set when it starts (features included
    in that start)."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    code = _MEMORY_PROBE.format(n=n, d=d)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="peak memory is read from Linux /proc")
@pytest.mark.parametrize("size", [pytest.param("tiny"), pytest.param("50k", marks=_FULL_ONLY)])
def test_all_pairs_peak_memory(benchmark, size):
    n, d = MEMORY[size]
    result = benchmark.pedantic(lambda: measure_peak_memory(n, d), rounds=1, iterations=1)
    benchmark.group = "all-pairs KID and precision/recall: peak memory"
    benchmark.extra_info.update(device=device_name(), n=n, d=d, **result)
    for task, figures in result.items():
        print(f"\n{task} {n}+{n} d={d}: peak {figures['peak_above_start_mib']:.0f} MiB above the features")
        assert figures["peak_above_start_mib"] < 2048  # the bar: 2 GiB at 50k + 50k
