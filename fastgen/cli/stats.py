"""`fastgen stats A -o a.npz`: precompute the feature statistics (mu, sigma) of a set of images.

A is an image folder, a dataset name that training accepts (``mnist``, ``digits``, ...; the real
side without exporting images), a run folder (its generator sampled in memory) or a ``.npy``/``.pt``
feature matrix. The file has pytorch-fid's keys ``mu`` and ``sigma`` (plus ``count`` and a
``provenance`` record: protocol, extractor, weights' SHA-256, count, fastgen's version), so either
tool reads it, and `fastgen fid a.npz B` then skips A's feature extraction. It is written atomically
and an existing file is kept unless ``--force`` is given. Under ``torchrun`` the images are shared
among the processes and rank 0 writes the file.
"""

from __future__ import annotations

from pathlib import Path

from fastgen.cli import UsageError
from fastgen.cli.metric_sources import add_extractor_arguments, source_help


def add_arguments(parser) -> None:
    parser.add_argument("source", metavar="A", help=source_help(stats_files=False))
    parser.add_argument("-o", "--output", required=True, help="the .npz file to write")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    add_extractor_arguments(parser, mismatch=False)


def run(args) -> int:
    from fastgen.cli.metric_sources import check_source, describe_count, processes, statistics_of

    output = Path(args.output)
    if output.suffix.lower() != ".npz":
        raise UsageError("--output", f"must name a .npz file, got {output}")
    if output.exists() and not args.force:
        raise UsageError("--output", f"{output} exists; pass --force to overwrite it")
    if not output.parent.is_dir():
        raise UsageError("--output", f"the folder {output.parent} does not exist")
    kind = check_source("A", args.source, stats_files=False, what="a covariance")
    with processes(args) as (device, rank, world):
        (stats,) = statistics_of([("A", args.source)], args, device)
    if rank != 0:
        return 0
    stats.save(output)
    print(f"wrote {output}: statistics{describe_count(kind, stats.count, world)}, d = {stats.dim}")
    return 0
