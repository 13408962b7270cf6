"""`fastgen kid REAL FAKE`: the Kernel Inception Distance (Bińkowski et al. 2018) between two sets.

REAL and FAKE are image folders, run folders (the generator sampled in memory), dataset names or
``.npy``/``.pt`` feature matrices (not ``.npz`` statistics: KID needs the features themselves).
Prints ``KID: mean ± std`` over ``--subsets`` random subsets of ``--subset-size`` samples per side
(torch-fidelity's and torchmetrics' defaults: 100 of 1000), drawn with ``--subset-seed``.
"""

from __future__ import annotations

import json

from fastgen.cli import non_negative_int, positive_int
from fastgen.cli.metric_sources import add_extractor_arguments, source_help


def add_arguments(parser) -> None:
    parser.add_argument("real", metavar="REAL", help=source_help(stats_files=False))
    parser.add_argument("fake", metavar="FAKE", help="the same kinds as REAL")
    parser.add_argument(
        "--subsets", type=non_negative_int, default=100, help="random subset pairs (default 100; 0: all pairs, exact)"
    )
    parser.add_argument("--subset-size", type=positive_int, default=1000, help="samples per subset (default 1000)")
    parser.add_argument("--subset-seed", type=non_negative_int, default=0, help="seed of the subsets (default 0)")
    add_extractor_arguments(parser, mismatch=False)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from fastgen.cli.metric_sources import features_of, processes
    from fastgen.metrics.kid import kid

    minimum = args.subset_size if args.subsets else 2
    why = f"KID's --subset-size {args.subset_size}" if args.subsets else "KID needs 2"
    with processes(args) as (device, rank, _):
        real, fake = features_of("KID", [("REAL", args.real), ("FAKE", args.fake)], args, device, minimum, why)
    mean, std = kid(real, fake, args.subsets, args.subset_size, args.subset_seed)
    if rank == 0:
        if args.json:
            print(json.dumps({"kid_mean": mean, "kid_std": std, "real": len(real), "fake": len(fake)}))
        else:
            print(f"KID: {mean:.6g} ± {std:.6g}")
    return 0
