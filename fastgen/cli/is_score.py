"""`fastgen is FOLDER`: the Inception Score (Salimans et al. 2016) of a set of images.

FOLDER is an image folder, a run folder (its generator sampled in memory), a dataset name, or a
``.npy``/``.pt`` file of logits ``[N, classes]``. The logits are the Inception network's unbiased
1008-way logits (torch-fidelity's ``logits_unbiased``; the digits CNN's 10 with ``--extractor
digits``); the samples are shuffled as torch-fidelity's ISC shuffles them (``numpy``'s
``RandomState(2020)``, ``--shuffle-seed``) and cut into ``--splits`` chunks, so the number equals
torch-fidelity's ISC on the same logits. Prints ``IS: mean ± std``.
"""

from __future__ import annotations

import json

from fastgen.cli import non_negative_int, positive_int
from fastgen.cli.metric_sources import add_extractor_arguments, source_help


def add_arguments(parser) -> None:
    from fastgen.metrics.inception_score import TORCH_FIDELITY_SEED

    parser.add_argument("source", metavar="FOLDER", help=source_help(stats_files=False).replace("features", "logits"))
    parser.add_argument("--splits", type=positive_int, default=10, help="chunks the score averages (default 10)")
    parser.add_argument(
        "--shuffle-seed",
        type=non_negative_int,
        default=TORCH_FIDELITY_SEED,
        help=f"seed of the shuffle before splitting (default {TORCH_FIDELITY_SEED}, torch-fidelity's)",
    )
    parser.add_argument("--no-shuffle", action="store_true", help="split the samples in their order")
    add_extractor_arguments(parser, mismatch=False)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from fastgen.cli.metric_sources import features_of, processes
    from fastgen.metrics.inception_score import inception_score

    why = f"--splits {args.splits} needs one per split"
    with processes(args) as (device, rank, _):
        (logits,) = features_of(
            "the Inception Score", [("FOLDER", args.source)], args, device, args.splits, why, logits=True
        )
    shuffle = not args.no_shuffle
    mean, std = inception_score(
        logits, args.splits, from_logits=True, shuffle=shuffle, seed=args.shuffle_seed if shuffle else None
    )
    if rank == 0:
        if args.json:
            print(json.dumps({"is_mean": mean, "is_std": std, "samples": len(logits), "splits": args.splits}))
        else:
            print(f"IS: {mean:.6f} ± {std:.6f}")
    return 0
