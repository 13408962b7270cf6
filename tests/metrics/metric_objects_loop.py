"""A plain validation loop over the metric objects, run by tests/metrics/test_metric_objects.py in one
process (``python``) or several (``torchrun``): each process takes a contiguous share of the images
in batches of 8, updates every metric, and rank 0 writes every ``compute()`` to the JSON file argv[1].
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

import fastgen.data
from fastgen.metrics import FID, KID, InceptionScore, PrecisionRecall

IMAGES = 48
BATCH = 8


def images() -> tuple[torch.Tensor, torch.Tensor]:
    """Real uint8 digits (the embedded MNIST subset), and fake ones as floats in [0, 1]: other digits
    with noise added."""
    digits = np.load(Path(fastgen.data.__file__).parent / "mnist_5k.npz")["images"]
    real = torch.from_numpy(digits[:IMAGES]).unsqueeze(1)
    g = torch.Generator().manual_seed(0)
    other = torch.from_numpy(digits[IMAGES : 2 * IMAGES]).unsqueeze(1).float() / 255
    fake = (other * 0.95 + torch.rand(other.shape, generator=g) * 0.05).clamp(0, 1)
    return real, fake


def metrics() -> dict:
    options = dict(extractor="digits", normalize=True)
    return {
        "fid": FID(**options),
        "kid": KID(**options, subsets=4, subset_size=30, seed=3),
        "kid_exact": KID(**options, subsets=0),
        "prc": PrecisionRecall(**options),
        "is": InceptionScore(**options, splits=4),
    }


def main(path: str) -> None:
    distributed = "RANK" in os.environ
    if distributed:
        dist.init_process_group("gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    real, fake = images()
    evaluation = metrics()
    for start in range(rank * IMAGES // world, (rank + 1) * IMAGES // world, BATCH):
        batch = slice(start, start + BATCH)
        for name, metric in evaluation.items():
            if name == "is":
                metric.update(fake[batch])
            else:
                metric.update(real[batch], real=True)
                metric.update(fake[batch], real=False)
    # Rank 0 alone sees every image here: the other ranks take part in compute() with nothing.
    uneven = {"fid_rank0": FID(extractor="digits"), "kid_rank0": KID(extractor="digits", subsets=0)}
    if rank == 0:
        for metric in uneven.values():
            metric.update(real, real=True)
            metric.update(real.flip(-1), real=False)
    evaluation.update(uneven)
    results = {name: metric.compute() for name, metric in evaluation.items()}
    if rank == 0:
        with open(path, "w") as file:
            json.dump({"world": world, **results}, file)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
