"""FID from image folders end to end: fastgen against pytorch-fid, torchmetrics, torch-fidelity, clean-fid.

Every provider runs in its own Python process (imports, weights, decoding, network, statistics,
distance: what a user waits for) on the same two folders of PNGs, with the same random
FID-Inception weights written into a temporary torch hub cache under the file names pytorch-fid
and torch-fidelity (also torchmetrics) look for, so nothing is downloaded. clean-fid's own
network is a TorchScript file that cannot be rebuilt offline; it gets pytorch-fid's network with
the same weights through its ``custom_feat_extractor`` hook. Reported per provider: wall seconds,
images/s, CPU seconds (user + system of the process and its workers: on a shared machine the
fairer figure), peak resident memory of the main process (decoding workers not counted), the FID.
Providers that are not installed are skipped with the reason.

pytest-benchmark (one round each; the machine is shared, compare ratios from one run):

    PYTHONPATH=$PWD pytest bench/bench_fid_images.py --benchmark-only

Issue 9's done-when figure, fastgen's and pytorch-fid's CLIs alternated in one run, then
``fastgen stats`` against ``pytorch-fid --save-stats`` on folder A:

    PYTHONPATH=$PWD python bench/bench_fid_images.py --images 300 --rounds 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.machine import cpu_model

SIZE = 64
TORCH_FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"

# Each runner is the body of a child process: argv = [folder A, folder B]; it prints the FID last.
RUNNERS = {
    "fastgen": (
        "fastgen",
        "import sys; from fastgen.cli import main; sys.exit(main(['fid', *sys.argv[1:3], '--no-progress']))",
    ),
    "pytorch-fid": (
        "pytorch_fid",
        "import sys, runpy; sys.argv = ['pytorch_fid', *sys.argv[1:3], '--device', 'cpu']; "
        "runpy.run_module('pytorch_fid', run_name='__main__')",
    ),
    "torch-fidelity": (
        "torch_fidelity",
        "import sys, torch_fidelity; print('FID:', torch_fidelity.calculate_metrics("
        "input1=sys.argv[1], input2=sys.argv[2], fid=True, cuda=False, cache=False, verbose=False,"
        " feature_extractor_weights_path=sys.argv[3])['frechet_inception_distance'])",
    ),
    "torchmetrics": (
        "torchmetrics",
        "import sys; from bench.bench_fid_images import torchmetrics_fid; "
        "print('FID:', torchmetrics_fid(*sys.argv[1:3]))",
    ),
    "clean-fid": (
        "cleanfid",
        "import sys; from bench.bench_fid_images import clean_fid; print('FID:', clean_fid(*sys.argv[1:3]))",
    ),
}


def write_folders(root: Path, images: int, seed: int = 0) -> tuple[Path, Path]:
    """Two folders of ``images`` 64×64 RGB PNGs: smooth random blobs, B's brighter than A's."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folders = root / "a", root / "b"
    for offset, folder in zip((0, 40), folders, strict=True):
        folder.mkdir(parents=True)
        for index in range(images):
            coarse = rng.integers(0, 200, size=(8, 8, 3), dtype=np.uint8) + offset // 2
            image = Image.fromarray(coarse).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
            noisy = np.clip(np.asarray(image, dtype=np.int16) + rng.integers(-8, 9, size=(SIZE, SIZE, 3)), 0, 255)
            Image.fromarray(noisy.astype(np.uint8)).save(folder / f"{index:05d}.png")
    return folders


def write_hub(root: Path) -> Path:
    """A torch hub cache holding the random FID-Inception weights under both libraries' file names."""
    import torch

    from fastgen.metrics.inception import WEIGHTS_FILENAME, random_fid_state_dict

    checkpoints = root / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    state = random_fid_state_dict()
    torch.save(state, checkpoints / WEIGHTS_FILENAME)
    torch.save(state, checkpoints / TORCH_FIDELITY_WEIGHTS)
    return root


def torchmetrics_fid(folder_a: str, folder_b: str, batch_size: int = 50) -> float:
    """torchmetrics' FrechetInceptionDistance over two folders, read as its documentation shows (PIL, uint8)."""
    import torch
    from PIL import Image
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048)
    for real, folder in ((True, folder_a), (False, folder_b)):
        paths = sorted(Path(folder).glob("*.png"))
        for start in range(0, len(paths), batch_size):
            batch = [np.asarray(Image.open(p).convert("RGB")) for p in paths[start : start + batch_size]]
            metric.update(torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2), real=real)
    return float(metric.compute())


def clean_fid(folder_a: str, folder_b: str) -> float:
    """clean-fid's "clean" mode with pytorch-fid's network and the hub's weights as the feature extractor."""
    import torch
    from cleanfid import fid
    from pytorch_fid.inception import InceptionV3

    network = InceptionV3([3], resize_input=False, normalize_input=False).eval()

    def features(x: torch.Tensor) -> torch.Tensor:  # clean-fid passes [N, 3, 299, 299] in [0, 255]
        return network((x - 128) / 128)[0].flatten(1)

    with torch.inference_mode():
        return fid.compute_fid(
            folder_a,
            folder_b,
            mode="clean",
            custom_feat_extractor=features,
            device=torch.device("cpu"),
            num_workers=min(8, os.cpu_count() or 1),
            batch_size=50,
            verbose=False,
            use_dataparallel=False,
        )


def run_provider(name: str, folder_a: Path, folder_b: Path, hub: Path) -> dict:
    """Wall time, peak RSS and FID of one provider in a fresh process."""
    module, body = RUNNERS[name]
    if importlib.util.find_spec(module) is None:
        return {"provider": name, "skipped": f"{module} is not installed"}
    weights = hub / "hub" / "checkpoints" / TORCH_FIDELITY_WEIGHTS
    wrapper = (
        "import atexit, resource, sys; atexit.register(lambda: print('PEAK_RSS_KIB', "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)); " + body
    )
    env = {**os.environ, "TORCH_HOME": str(hub), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, str(folder_a), str(folder_b), str(weights)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    seconds = time.perf_counter() - start
    cpu_seconds = _children_cpu_seconds() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
    fid = float([line for line in done.stdout.splitlines() if line.startswith("FID")][-1].split()[-1])
    peak = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")][-1]
    images = sum(1 for folder in (folder_a, folder_b) for _ in folder.glob("*.png"))
    return {
        "provider": name,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "images_per_s": images / seconds,
        "peak_rss_mib": peak / 1024,
        "fid": fid,
    }


def _children_cpu_seconds() -> float:
    """User + system CPU time of the finished child processes (and their waited-for workers)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def statistics_agreement(folder: Path, hub: Path, work: Path) -> dict:
    """``fastgen stats`` against ``pytorch-fid --save-stats`` on one folder: seconds and max relative deviation."""
    env = {**os.environ, "TORCH_HOME": str(hub), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    timings = {}
    commands = {
        "pytorch-fid": [
            sys.executable,
            "-m",
            "pytorch_fid",
            "--save-stats",
            str(folder),
            str(work / "ref.npz"),
            "--device",
            "cpu",
        ],
        "fastgen": [
            sys.executable,
            "-m",
            "fastgen",
            "stats",
            str(folder),
            "-o",
            str(work / "ours.npz"),
            "--no-progress",
            "--force",
        ],
    }
    for name, command in commands.items():
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, timeout=3600)
        timings[name] = time.perf_counter() - start
    with np.load(work / "ref.npz") as ref, np.load(work / "ours.npz") as ours:
        deviation = {key: float(np.abs(ours[key] - ref[key]).max() / np.abs(ref[key]).max()) for key in ("mu", "sigma")}
    return {"seconds": timings, "relative_deviation": deviation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300, help="PNGs per folder (default 300)")
    parser.add_argument("--rounds", type=int, default=1, help="alternations of fastgen and pytorch-fid (default 1)")
    parser.add_argument("--providers", nargs="*", default=["fastgen", "pytorch-fid"], choices=tuple(RUNNERS))
    parser.add_argument("--no-stats", action="store_true", help="skip the stats comparison")
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} cores; two folders of {args.images} {SIZE}x{SIZE} PNGs", flush=True)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        folder_a, folder_b = write_folders(work, args.images)
        hub = write_hub(work)
        results: dict[str, list[dict]] = {}
        for round_index in range(args.rounds):
            order = args.providers if round_index % 2 == 0 else args.providers[::-1]
            for name in order:
                result = run_provider(name, folder_a, folder_b, hub)
                results.setdefault(name, []).append(result)
                print(json.dumps(result), flush=True)
        if "fastgen" in results and "pytorch-fid" in results and "seconds" in results["fastgen"][0]:
            ratios = [
                p["seconds"] / f["seconds"] for f, p in zip(results["fastgen"], results["pytorch-fid"], strict=True)
            ]
            cpu = [
                p["cpu_seconds"] / f["cpu_seconds"]
                for f, p in zip(results["fastgen"], results["pytorch-fid"], strict=True)
            ]
            print(
                f"fastgen fid vs pytorch-fid CLI: wall {', '.join(f'{r:.2f}x' for r in ratios)}, "
                f"CPU time {', '.join(f'{r:.2f}x' for r in cpu)} faster",
                flush=True,
            )
        if not args.no_stats:
            print(json.dumps({"stats": statistics_agreement(folder_a, hub, work)}), flush=True)


# -- pytest-benchmark ------------------------------------------------------------------------------

if "pytest" in sys.modules:
    import pytest

    @pytest.fixture(scope="module")
    def setup(tmp_path_factory):
        root = tmp_path_factory.mktemp("fid_images")
        folder_a, folder_b = write_folders(root, int(os.environ.get("FASTGEN_BENCH_IMAGES", "50")))
        return folder_a, folder_b, write_hub(root)

    @pytest.mark.parametrize("provider", list(RUNNERS))
    def test_end_to_end(benchmark, setup, provider):
        module = RUNNERS[provider][0]
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
        result = benchmark.pedantic(run_provider, args=(provider, *setup), rounds=1, iterations=1)
        benchmark.extra_info.update(result)


if __name__ == "__main__":
    main()
