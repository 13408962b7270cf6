"""Where a step spends its time: a fused op's forward+backward per provider of the op
benchmarks, or (``--training``) a whole training step per provider of bench_train_vs_plain.

The pytest benchmarks time one step per round with a synchronisation after it: on a GPU that is
the latency a training loop sees when it reads a loss every step, dominated by launches and
Python dispatch for small shapes. This script adds, for the same steps (taken from the benchmark
functions themselves, so both measure the same code):

- latency: median of single steps, each followed by a synchronisation (what pytest reports);
- throughput: the mean step of back-to-back steps with one synchronisation at the end (launches
  overlap the GPU's work, as in a loop that does not read its losses every step);
- on CUDA, from torch.profiler over a few steps: the GPU kernel time per step and the number of
  kernels launched per step. latency - kernel time is what dispatch and launches cost.

    python -m bench.profile_steps [--only corrupt_encode] [--steps 50]
    python -m bench.profile_steps --training [--steps 20]      # fastgen, plain, tuned (and graphed) steps
    python -m bench.profile_steps --table corrupt_encode 256x784->1024 cuda   # torch.profiler's table

Figures are comparable only within one run on one machine; report ratios, with the device named.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench import bench_corrupt_encode, bench_ls_loss, bench_reparameterize
from bench.conftest import device_name, synchronize

# name: (benchmark function, the name of its size parameter, its sizes, its other parameters fixed)
SUITES = {
    "reparameterize": (bench_reparameterize.test_forward_backward, "shape", bench_reparameterize.SHAPES, {}),
    "corrupt_encode": (
        bench_corrupt_encode.test_forward_backward,
        "shape",
        bench_corrupt_encode.SHAPES,
        {"x_role": "x-grad"},
    ),
    "ls_loss": (bench_ls_loss.test_discriminator_and_generator_losses, "size", bench_ls_loss.SIZES, {}),
}
MODULES = {"reparameterize": bench_reparameterize, "corrupt_encode": bench_corrupt_encode, "ls_loss": bench_ls_loss}


def captured_step(name, size, provider):
    """The step closure suite ``name``'s benchmark function would hand to run_pedantic."""
    function, size_name, _, fixed = SUITES[name]
    steps = []

    def run_pedantic(step, **_):
        steps.append(step)

    function(run_pedantic, **{size_name: size, "provider": provider}, **fixed)
    return steps[0]


def latency_and_throughput(step, steps: int) -> tuple[float, float]:
    for _ in range(3):
        step()
    synchronize()
    single = []
    for _ in range(min(steps, 20)):
        began = time.perf_counter()
        step()
        synchronize()
        single.append(time.perf_counter() - began)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return statistics.median(single), (time.perf_counter() - began) / steps


def kernel_time_and_launches(step, steps: int = 5) -> tuple[float, float]:
    """GPU kernel time per step (s) and kernels per step, from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    total_us = sum(e.time_range.elapsed_us() for e in kernels)
    return total_us * 1e-6 / steps, len(kernels) / steps


def print_table(name: str, size: str, provider: str, steps: int = 5) -> None:
    """torch.profiler's operator table for one step, by host (self CPU) time."""
    from torch.profiler import ProfilerActivity, profile

    step = captured_step(name, size, provider)
    latency_and_throughput(step, 10)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        synchronize()
    print(f"== {name} {size} {provider}: {steps} steps")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def training_steps():
    """(case label, provider, step) of every row of bench_train_vs_plain."""
    from bench import bench_train_vs_plain

    for case in bench_train_vs_plain.CASES:
        for provider, step in bench_train_vs_plain._steps(case).items():
            yield case.label, provider, step


def print_row(label: str, provider: str, step, steps: int, on_gpu: bool) -> None:
    latency, throughput = latency_and_throughput(step, steps)
    row = f"{label:36} {provider:20} {latency * 1e3:8.3f}ms {throughput * 1e3:9.3f}ms"
    if on_gpu:
        try:
            kernel, launches = kernel_time_and_launches(step)
            row += f" {kernel * 1e3:10.3f}ms {launches:8.1f}"
        except Exception as error:  # the profiler's event API moves between versions
            row += f" profiler: {type(error).__name__}: {error}"
    print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SUITES), action="append", help="an op suite (repeatable)")
    parser.add_argument("--steps", type=int, default=50, help="back-to-back steps for the throughput")
    parser.add_argument("--table", nargs=3, metavar=("OP", "SIZE", "PROVIDER"), help="print one step's profile")
    parser.add_argument("--training", action="store_true", help="whole training steps instead of the op steps")
    args = parser.parse_args()
    if args.table:
        print_table(*args.table)
        return
    on_gpu = torch.cuda.is_available()
    print(f"device: {device_name()}")
    header = f"{'step':36} {'provider':20} {'latency':>10} {'throughput':>11}"
    print(header + (f" {'kernel time':>12} {'kernels':>8}" if on_gpu else ""))
    if args.training:
        for label, provider, step in training_steps():
            print_row(label, provider, step, args.steps, on_gpu)
        return
    for name in args.only or list(SUITES):
        sizes = SUITES[name][2]
        for size in sizes:
            for provider in MODULES[name].PROVIDERS:
                if provider == "reference-eager" and not on_gpu:
                    continue  # the pure-PyTorch Philox on a CPU takes seconds a step
                print_row(f"{name} {size}", provider, captured_step(name, size, provider), args.steps, on_gpu)


if __name__ == "__main__":
    main()
