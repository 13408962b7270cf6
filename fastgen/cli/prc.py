"""`fastgen prc REAL FAKE`: precision and recall (Kynkäänniemi et al. 2019, k = ``--k``) and density
and coverage (Naeem et al. 2020, k = ``--dc-k``) of generated samples against real ones.

REAL and FAKE are image folders, run folders (the generator sampled in memory), dataset names or
``.npy``/``.pt`` feature matrices. Each set needs more samples than the larger k.
"""

from __future__ import annotations

import json

from fastgen.cli import positive_int
from fastgen.cli.metric_sources import add_extractor_arguments, source_help


def add_arguments(parser) -> None:
    parser.add_argument("real", metavar="REAL", help=source_help(stats_files=False))
    parser.add_argument("fake", metavar="FAKE", help="the same kinds as REAL")
    parser.add_argument("--k", type=positive_int, default=3, help="neighbours for precision/recall (default 3)")
    parser.add_argument("--dc-k", type=positive_int, default=5, help="neighbours for density/coverage (default 5)")
    add_extractor_arguments(parser, mismatch=False)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from fastgen.cli.metric_sources import features_of, processes
    from fastgen.metrics.prc import neighbourhood_metrics

    k, flag = max((args.k, "--k"), (args.dc_k, "--dc-k"))
    named = [("REAL", args.real), ("FAKE", args.fake)]
    with processes(args) as (device, rank, _):
        real, fake = features_of("precision/recall", named, args, device, k + 1, f"{flag} {k} needs k + 1 = {k + 1}")
    results = neighbourhood_metrics(real, fake, precision_recall_k=args.k, density_coverage_k=args.dc_k)
    if rank == 0:
        if args.json:
            print(json.dumps({**results, "real": len(real), "fake": len(fake)}))
        else:
            print("  ".join(f"{name}: {value:.6f}" for name, value in results.items()))
    return 0
