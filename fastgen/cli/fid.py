"""`fastgen fid A B`: the Fréchet Inception Distance between two sets of images.

A and B are each an image folder, a run folder (its generator sampled in memory), a dataset name,
a ``.npz`` statistics file (``fastgen stats``, pytorch-fid) or a ``.npy``/``.pt`` feature matrix
[N, d] (see :mod:`fastgen.cli.metric_sources`). Prints ``FID: <value>`` (or JSON with ``--json``).

Every argument is checked (paths, image counts, options) before the network's weights are looked
for or any image is decoded. Sets whose recorded protocol, extractor or weights differ are refused
(``--allow-mismatch``). Under ``torchrun`` the images are shared among the processes and their
statistics all-reduced; rank 0 prints.
"""

from __future__ import annotations

import json
import sys

from fastgen.cli.metric_sources import add_extractor_arguments, source_help


def add_arguments(parser) -> None:
    parser.add_argument("a", metavar="A", help=source_help())
    parser.add_argument("b", metavar="B", help="the same kinds as A")
    add_extractor_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from fastgen.cli.metric_sources import check_source, describe_count, processes, statistics_of
    from fastgen.metrics.fid import frechet_distance

    named = [("A", args.a), ("B", args.b)]
    kinds = [check_source(name, source) for name, source in named]  # before the device or any process group
    with processes(args) as (device, rank, world):
        a, b = statistics_of(named, args, device)
    fid = float(frechet_distance(a.mean.cpu(), a.cov.cpu(), b.mean.cpu(), b.cov.cpu()))
    if rank != 0:
        return 0
    if args.json:
        sets = {
            name: {"source": source, "count": s.count, "provenance": s.provenance}
            for name, source, s in (("a", args.a, a), ("b", args.b, b))
        }
        print(json.dumps({"fid": fid, "dims": a.dim, "protocol": args.protocol, **sets}))
    else:
        print(f"FID: {fid:.6f}")
        if world > 1:
            print(f"A: statistics{describe_count(kinds[0], a.count, world)}", file=sys.stderr)
            print(f"B: statistics{describe_count(kinds[1], b.count, world)}", file=sys.stderr)
    return 0
