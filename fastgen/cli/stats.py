"""`fastgen stats A -o a.npz`: precompute the feature statistics (mu, sigma) of a set of images.

The file has pytorch-fid's keys ``mu`` and ``sigma`` (plus ``count``), so either tool reads it,
and `fastgen fid a.npz B` then skips A's feature extraction. It is written atomically and an
existing file is kept unless ``--force`` is given. Under ``torchrun`` the images are shared among
the processes and rank 0 writes the file.
"""

from __future__ import annotations

from pathlib import Path

from fastgen.cli.fid import add_extractor_arguments


def add_arguments(parser) -> None:
    parser.add_argument("source", metavar="A", help="image folder, or .npy/.pt features [N, d]")
    parser.add_argument("-o", "--output", required=True, help="the .npz file to write")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    add_extractor_arguments(parser)


def run(args) -> int:
    from fastgen.cli.fid import check_source, describe_count, run_guarded, start_processes, statistics_of

    def body() -> int:
        output = Path(args.output)
        if output.suffix.lower() != ".npz":
            raise ValueError(f"--output must name a .npz file, got {output}")
        if output.exists() and not args.force:
            raise ValueError(f"{output} exists; pass --force to overwrite it")
        if not output.parent.is_dir():
            raise FileNotFoundError(f"the folder of --output, {output.parent}, does not exist")
        check_source("A", args.source)
        device, rank, world = start_processes(args)
        (stats,) = statistics_of([("A", args.source)], args, device)
        if rank != 0:
            return 0
        stats.save(output)
        print(f"wrote {output}: statistics{describe_count(args.source, stats.count, world)}, d = {stats.dim}")
        return 0

    return run_guarded("stats", body)
