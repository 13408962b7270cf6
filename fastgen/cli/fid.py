"""`fastgen fid A B`: the Fréchet Inception Distance between two sets of images.

A and B are each an image folder, a ``.npz`` statistics file (``fastgen stats``, pytorch-fid) or a
``.npy``/``.pt`` feature matrix [N, d]. Prints ``FID: <value>`` (or JSON with ``--json``).

Every argument is checked (paths, image counts, options) before the network's weights are looked
for or any image is decoded. Under ``torchrun`` the images are shared among the processes and
their statistics all-reduced; rank 0 prints.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fastgen.metrics.preprocess import DEFAULT_PROTOCOL, PROTOCOLS

PRECISIONS = ("float32", "bfloat16", "float16")


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
    parser.add_argument(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default=DEFAULT_PROTOCOL,
        help="whose preprocessing to reproduce (resize and scaling before Inception): pytorch-fid (default), "
        "torch-fidelity (= torchmetrics with antialias=False), torchmetrics (its >= 1.8 default, antialias=True) "
        "or clean-fid; FIDs are comparable only within one protocol",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="dtype the network runs in: float32 (default), bfloat16, float16 (CUDA only); lower precision "
        "is faster but its FIDs are not comparable to published (float32) numbers",
    )
    parser.add_argument("--device", default=None, help="torch device for the extractor (default: cuda if available)")
    parser.add_argument("--batch-size", type=int, default=50, help="images per batch (default 50)")
    parser.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="DataLoader processes decoding images (default: 1 on CPU, which overlaps decoding with the network "
        "and leaves the cores to it; min(8, CPU count) on CUDA)",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip image files that cannot be decoded (and say how many)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser) -> None:
    parser.add_argument("a", metavar="A", help="image folder, .npz statistics, or .npy/.pt features [N, d]")
    parser.add_argument("b", metavar="B", help="the same kinds as A")
    add_extractor_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def check_source(name: str, source: str) -> None:
    """Refuse a source that cannot work, naming it, before any weights are loaded or image decoded."""
    from fastgen.metrics.extract import FEATURE_FILE_SUFFIXES
    from fastgen.metrics.images import list_images

    path = Path(source)
    if path.is_dir():
        count = len(list_images(path))  # raises for a folder without images
        if count < 2:
            raise ValueError(f"{name}: image folder {path} holds {count} image; a covariance (FID) needs at least 2")
    elif not path.exists():
        raise FileNotFoundError(f"{name}: {path} does not exist (expected an image folder, .npz, .npy or .pt file)")
    elif path.suffix.lower() not in (".npz", *FEATURE_FILE_SUFFIXES):
        raise ValueError(f"{name}: {path} is not an image folder, a .npz statistics file or a .npy/.pt feature file")


def check_options(args) -> None:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.num_workers is not None and args.num_workers < 0:
        raise ValueError(f"--num-workers must be >= 0, got {args.num_workers}")
    if args.extractor == "digits" and args.protocol != DEFAULT_PROTOCOL:
        raise ValueError(f"--protocol {args.protocol} applies to --extractor inception; digits has one preprocessing")


def start_processes(args):
    """The device, rank and world size; under torchrun (WORLD_SIZE > 1) the process group is started."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return device, rank, world


def statistics_of(names_and_sources: list[tuple[str, str]], args, device) -> list:
    """FeatureStats of each source; the extractor is loaded only if some source is an image folder.

    Raises ValueError when the sets' dimensions differ from each other or from ``--dims``.
    """
    from fastgen.metrics.extract import ImageOptions, check_precision, compute_statistics, get_extractor
    from fastgen.metrics.inception import FIDInceptionV3

    sources = [source for _, source in names_and_sources]
    for name, source in names_and_sources:
        check_source(name, source)
    check_options(args)
    check_precision(args.precision, device)
    if args.precision != "float32" and os.environ.get("RANK", "0") == "0":
        print(
            f"note: --precision {args.precision}: these statistics and FIDs are not comparable to published "
            "(float32) numbers; use them to follow a run, not to report",
            file=sys.stderr,
        )
    extractor = None
    if any(Path(source).is_dir() for source in sources):
        extractor = get_extractor(args.extractor, dims=args.dims, weights=args.weights, device=device)
    workers = args.num_workers
    if workers is None:
        workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 1
    options = ImageOptions(
        batch_size=args.batch_size,
        num_workers=workers,
        progress=not args.no_progress,
        protocol=args.protocol if isinstance(extractor, FIDInceptionV3) else None,  # digits: its own
        precision=args.precision,
        skip_bad=args.skip_bad,
    )
    stats = [compute_statistics(source, extractor, **options._asdict()) for source in sources]
    dims = {source: s.dim for source, s in zip(sources, stats, strict=True)}
    if args.dims is not None and any(d != args.dims for d in dims.values()):
        raise ValueError(f"--dims {args.dims} does not match the feature dimension of every input: {dims}")
    if len(set(dims.values())) > 1:
        raise ValueError(f"the inputs have different feature dimensions {dims}: compute both with one extractor")
    return stats


def describe_count(source: str, count: int | None, world: int) -> str:
    """``of 301 images over 2 processes``: what the statistics were computed from."""
    if count is None:
        return ""
    noun = "images" if Path(source).is_dir() else "samples"
    over = f" over {world} processes" if world > 1 and Path(source).is_dir() else ""
    return f" of {count} {noun}{over}"


def run_guarded(command: str, body) -> int:
    """Run ``body()``; a user's mistake becomes one line on stderr and exit code 2, never a traceback."""
    import torch.distributed as dist

    from fastgen.metrics.extract import PeerFailedError

    try:
        return body()
    except PeerFailedError:
        return 2  # the process that met the problem reports it
    except (FileNotFoundError, NotADirectoryError, ValueError, TypeError) as error:
        print(f"fastgen {command}: error: {error}", file=sys.stderr)
        return 2
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def run(args) -> int:
    def body() -> int:
        from fastgen.metrics.fid import frechet_distance

        for name, source in (("A", args.a), ("B", args.b)):  # before the device or any process group
            check_source(name, source)
        device, rank, world = start_processes(args)
        a, b = statistics_of([("A", args.a), ("B", args.b)], args, device)
        fid = float(frechet_distance(a.mean.cpu(), a.cov.cpu(), b.mean.cpu(), b.cov.cpu()))
        if rank != 0:
            return 0
        if args.json:
            sets = {
                name: {"source": source, "count": s.count} for name, source, s in (("a", args.a, a), ("b", args.b, b))
            }
            print(json.dumps({"fid": fid, "dims": a.dim, "protocol": args.protocol, **sets}))
        else:
            print(f"FID: {fid:.6f}")
            if world > 1:
                print(f"A: statistics{describe_count(args.a, a.count, world)}", file=sys.stderr)
                print(f"B: statistics{describe_count(args.b, b.count, world)}", file=sys.stderr)
        return 0

    return run_guarded("fid", body)
