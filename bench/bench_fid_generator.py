"""FID of a run's generator without files, against sampling to PNGs and `fastgen fid` on the folder.

Issue 15's bar: `fastgen fid REF RUN --num-samples 10000 --extractor digits` (the generator sampled
in memory) at least 2x faster than what a user did before: sample the run's model, write each
sample as a PNG, then `fastgen fid REF FOLDER --extractor digits`. Both paths are timed end to end
in fresh processes (imports, checkpoint, sampling, decoding or not, network, statistics, distance),
interleaved round by round (bench/interleave.py's rotation), on the same run folder: a DCGAN trained
for one step on the embedded MNIST subset (the network's size, not its quality, sets the cost), and
the same reference statistics (``fastgen stats mnist --split test --extractor digits``). The two FIDs
must agree: the PNGs hold exactly the bytes the in-memory path quantizes to.

    PYTHONPATH=$PWD python bench/bench_fid_generator.py --samples 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]

# the baseline: a user's script writing the samples as PNGs (the run loaded as `fastgen sample` loads it)
WRITE_PNGS = """
import sys, torch
from PIL import Image
from fastgen.cli.run_source import load_run_generator
from fastgen.metrics.images import float_to_uint8
run, folder, count, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), 50
generate, _ = load_run_generator("RUN", run, "cpu")
torch.manual_seed(0)
for start in range(0, count, batch):
    images = float_to_uint8(generate(min(batch, count - start)))
    for index, image in enumerate(images):
        Image.fromarray(image[0].numpy()).save(f"{folder}/{start + index:06d}.png")
"""


def fastgen(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "fastgen", *arguments], capture_output=True, text=True, env=env, check=True
    )


def prepare(work: Path) -> tuple[Path, Path]:
    run = work / "run"
    fastgen("train", "dcgan", "--data", "mnist", "--steps", "1", "--no-progress", "--eval-samples", "10",
            "--out", str(run))  # fmt: skip
    reference = work / "mnist_test.npz"
    fastgen("stats", "mnist", "--split", "test", "-o", str(reference), "--extractor", "digits", "--no-progress")
    return run, reference


def in_memory(run: Path, reference: Path, samples: int) -> float:
    done = fastgen("fid", str(reference), str(run), "--extractor", "digits", "--num-samples", str(samples),
                   "--no-progress", "--json")  # fmt: skip
    return json.loads(done.stdout)["fid"]


def through_files(run: Path, reference: Path, samples: int, work: Path) -> float:
    folder = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", WRITE_PNGS, str(run), str(folder), str(samples)], check=True, env=env)
    done = fastgen("fid", str(reference), str(folder), "--extractor", "digits", "--no-progress", "--json")
    return json.loads(done.stdout)["fid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} cores; {args.samples} samples, digits extractor", flush=True)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        run, reference = prepare(work)
        providers = {
            "in memory": lambda: in_memory(run, reference, args.samples),
            "PNGs + fastgen fid": lambda: through_files(run, reference, args.samples, work),
        }
        times: dict[str, list[float]] = {name: [] for name in providers}
        fids: dict[str, float] = {}
        names = list(providers)
        for r in range(args.rounds):
            for name in names[r % 2 :] + names[: r % 2]:  # rotated: neither always runs first
                start = time.perf_counter()
                fids[name] = providers[name]()
                times[name].append(time.perf_counter() - start)
                print(json.dumps({"round": r, "provider": name, "seconds": times[name][-1], "fid": fids[name]}))
        medians = {name: statistics.median(values) for name, values in times.items()}
        ratio = medians["PNGs + fastgen fid"] / medians["in memory"]
        verdict = "ok" if ratio >= 2 else "BELOW 2x"
        memory, files = medians["in memory"], medians["PNGs + fastgen fid"]
        print(f"median: in memory {memory:.1f} s, PNGs + fastgen fid {files:.1f} s: {ratio:.2f}x ({verdict}); "
              f"FIDs {fids['in memory']:.6f} and {fids['PNGs + fastgen fid']:.6f}")  # fmt: skip


if __name__ == "__main__":
    main()
