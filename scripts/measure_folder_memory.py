"""Peak memory of `fastgen train` on image folders of different sizes: it must not grow with the folder.

Writes folders of random 64×64 RGB PNGs (1,000 and 8,000 by default), trains a small DCGAN on each
for a few steps in a fresh process, and reports two peaks: the training process's own (its
``ru_maxrss``) and the whole process tree's (the training process plus its DataLoader workers,
summed from /proc every 50 ms). Linux only (/proc).

    python scripts/measure_folder_memory.py [--sizes 1000 8000] [--steps 20] [--workers 2] [--keep DIR]

Measured (Intel Xeon, 2 cores, 20 steps of 32, default --workers 2): process peak 1,061.5 MB on
1,000 images, 1,054.7 MB on 8,000 (tree 2,018.7 / 2,009.8 MB). The version that stacked the folder
(--code of a checkout before streaming, --workers -): 1,107.8 MB and 1,729.2 MB.

Point ``--python``/``--code`` at another checkout to measure it the same way (e.g. a version that
stacked the folder in memory).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PAGE = os.sysconf("SC_PAGE_SIZE")


def write_folder(folder: Path, count: int, side: int = 64) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    for i in range(len(list(folder.glob("*.png"))), count):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/PID/task/*/children."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):  # the task ended meanwhile
                queue += [int(child) for child in (task / "children").read_text().split()]
    return found


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError):
        return 0


def measure(python: str, code: Path, folder: Path, out: Path, steps: int, workers: int) -> tuple[int, int, float]:
    """(peak RSS of the training process, peak summed RSS of its tree, seconds), bytes."""
    command = [python, "-c", _RUNNER, str(folder), str(out), str(steps), str(workers)]
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = subprocess.Popen(command, cwd=code, env=env, text=True, **pipes)  # cwd: `python -c` imports from it
    tree_peak = 0
    while process.poll() is None:
        tree_peak = max(tree_peak, sum(_rss(pid) for pid in _tree(process.pid)))
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"training on {folder} failed:\n{stderr[-2000:]}")
    own_peak = int(stdout.strip().splitlines()[-1]) * 1024  # ru_maxrss is in KiB on Linux
    return own_peak, tree_peak, time.monotonic() - start


# Runs `fastgen train` in this fresh process and prints its own peak RSS last.
_RUNNER = """
import resource, sys
from fastgen.cli import main
folder, out, steps, workers = sys.argv[1:]
options = ["train", "dcgan", "--data", folder, "--out", out, "--steps", steps, "--batch-size", "32",
           "--option", "width=8", "--eval-every", "10000", "--sample-every", "10000", "--eval-samples", "100",
           "--no-progress"]
if workers != "-":
    options += ["--workers", workers]
code = main(options)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", default="2", help="--workers of fastgen train ('-': leave the option out)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1], help="checkout to run")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the images (kept between runs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        images = args.keep or Path(scratch) / "images"
        print(f"code: {args.code}; {args.steps} steps of 32 images (64×64 RGB), --workers {args.workers}")
        print(f"{'images':>8} {'process peak MB':>16} {'tree peak MB':>13} {'seconds':>8}")
        for size in args.sizes:
            write_folder(images / str(size), size)
            out = Path(scratch) / f"run-{size}"
            own, tree, seconds = measure(args.python, args.code, images / str(size), out, args.steps, args.workers)
            print(f"{size:>8} {own / 2**20:>16.1f} {tree / 2**20:>13.1f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
