"""`fastgen fid A B`: the Fréchet Inception Distance between two sets of images.

A and B are each an image folder, a ``.npz`` statistics file (``fastgen stats``, pytorch-fid) or a
``.npy``/``.pt`` feature matrix [N, d]. Prints ``FID: <value>`` (or JSON with ``--json``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def default_num_workers() -> int:
    return min(8, os.cpu_count() or 1)


def add_extractor_arguments(parser) -> None:
    """The options that say how images become features; shared with `fastgen stats`."""
    parser.add_argument(
        "--extractor",
        choices=("inception", "digits"),
        default="inception",
        help="feature network for image folders: the FID Inception-v3 (default) or the embedded MNIST digits CNN",
    )
    parser.add_argument(
        "--dims",
        type=int,
        default=None,
        help="feature dimension: 64, 192, 768 or 2048 (default) for inception; 128 for digits",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="path of pt_inception-2015-12-05-6726825d.pth (default: the torch hub cache; nothing is downloaded)",
    )
    parser.add_argument("--device", default=None, help="torch device for the extractor (default: cuda if available)")
    parser.add_argument("--batch-size", type=int, default=50, help="images per batch (default 50)")
    parser.add_argument(
        "--num-workers",
        type=int,
        default=default_num_workers(),
        help="DataLoader worker processes decoding images (default: min(8, CPU count))",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser) -> None:
    parser.add_argument("a", metavar="A", help="image folder, .npz statistics, or .npy/.pt features [N, d]")
    parser.add_argument("b", metavar="B", help="the same kinds as A")
    add_extractor_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def statistics_of(sources: list[str], args) -> list:
    """FeatureStats of each source; the extractor is loaded only if some source is an image folder.

    Raises ValueError when the sets' dimensions differ from each other or from ``--dims``.
    """
    import torch

    from fastgen.metrics.extract import compute_statistics, get_extractor

    extractor = None
    if any(Path(source).is_dir() for source in sources):
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        extractor = get_extractor(args.extractor, dims=args.dims, weights=args.weights, device=device)
    options = {"batch_size": args.batch_size, "num_workers": args.num_workers, "progress": not args.no_progress}
    stats = [compute_statistics(source, extractor, **options) for source in sources]
    dims = {source: s.dim for source, s in zip(sources, stats, strict=True)}
    if args.dims is not None and any(d != args.dims for d in dims.values()):
        raise ValueError(f"--dims {args.dims} does not match the feature dimension of every input: {dims}")
    if len(set(dims.values())) > 1:
        raise ValueError(f"the inputs have different feature dimensions {dims}: compute both with one extractor")
    return stats


def run(args) -> int:
    from fastgen.metrics.fid import frechet_distance

    try:
        a, b = statistics_of([args.a, args.b], args)
        fid = float(frechet_distance(a.mean.cpu(), a.cov.cpu(), b.mean.cpu(), b.cov.cpu()))
    except (FileNotFoundError, ValueError, TypeError) as error:
        print(f"fastgen fid: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        sets = {name: {"source": source, "count": s.count} for name, source, s in (("a", args.a, a), ("b", args.b, b))}
        print(json.dumps({"fid": fid, "dims": a.dim, **sets}))
    else:
        print(f"FID: {fid:.6f}")
    return 0
