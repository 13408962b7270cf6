"""The one module the metric commands (`fid`, `stats`, `kid`, `prc`, `is`) share: the options that
say how images become features, the sources a set can come from, how each source is checked, and
the process group the command runs in under ``torchrun`` (:func:`processes`).

A source (argument ``A``, ``B``, ``REAL``, ...) is an image folder, a run folder written by
`fastgen train` (its generator is sampled in memory, ``--num-samples`` images), a dataset name that
training accepts (``mnist``, ``digits``, ...; ``--data-root``, ``--split``), a ``.npz`` statistics
file (FID only) or a ``.npy``/``.pt`` feature matrix ``[N, d]``. Every source and option is checked
before the network's weights are looked for or any image is decoded; a source found wrong is a
:class:`~fastgen.cli.UsageError` naming its argument. Errors are raised, never printed here: the
commands' ``run`` lets them reach :func:`fastgen.cli.main`, whose policy reports them.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from fastgen.cli import UsageError, as_usage_error, non_negative_int, positive_int
from fastgen.metrics.preprocess import DEFAULT_PROTOCOL, PROTOCOLS

PRECISIONS = ("float32", "bfloat16", "float16")
DEFAULT_RUN_SAMPLES = 50_000  # samples drawn from a run's generator: the FID standard


def add_extractor_arguments(parser, mismatch: bool = True) -> None:
    """The options that say how images become features; ``mismatch``: add ``--allow-mismatch``."""
    parser.add_argument(
        "--extractor",
        choices=("inception", "digits"),
        default="inception",
        help="feature network for images: the FID Inception-v3 (default) or the embedded MNIST digits CNN",
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
        "or clean-fid; numbers are comparable only within one protocol",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="dtype the network runs in: float32 (default), bfloat16, float16 (CUDA only); lower precision "
        "is faster but its numbers are not comparable to published (float32) ones",
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
    parser.add_argument(
        "--num-samples",
        type=positive_int,
        default=None,
        help=f"images drawn from a run folder's generator (default {DEFAULT_RUN_SAMPLES:,}); a dataset gives all "
        "its images",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of a run's generator (default 0)")
    parser.add_argument("--data-root", default=None, help="folder of a dataset's files on disk (e.g. the full MNIST)")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="a dataset's split (default train)")
    if mismatch:
        parser.add_argument(
            "--allow-mismatch",
            action="store_true",
            help="compare sets whose recorded protocol, extractor or weights differ (refused by default)",
        )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def source_help(stats_files: bool = True) -> str:
    files = ".npz statistics, or .npy/.pt features [N, d]" if stats_files else "or .npy/.pt features [N, d]"
    return f"image folder, run folder (its generator is sampled), dataset name (mnist, digits, ...), {files}"


def check_source(name: str, source: str, minimum: int = 2, stats_files: bool = True, what: str = "FID") -> str:
    """The kind of ``source`` ("run", "dataset", "folder", "stats", "features"), refusing, in one line
    naming it, one that cannot work, before any weights are loaded or image decoded."""
    from fastgen.cli.run_source import is_run_folder
    from fastgen.data import DATASET_NAMES
    from fastgen.metrics.extract import FEATURE_FILE_SUFFIXES
    from fastgen.metrics.images import list_images

    path = Path(source)
    if source in DATASET_NAMES:
        return "dataset"
    if is_run_folder(path):
        return "run"
    if path.is_dir():
        try:
            count = len(list_images(path))
        except ValueError as error:
            raise UsageError(name, str(error)) from None
        if count < minimum:
            raise UsageError(name, f"image folder {path} holds {count} image(s); {what} needs at least {minimum}")
        return "folder"
    expected = f"an image folder, a run folder, a dataset name ({', '.join(DATASET_NAMES)})"
    if not path.exists():
        raise UsageError(name, f"{path} does not exist (expected {expected}, .npz, .npy or .pt file)")
    suffix = path.suffix.lower()
    if suffix == ".npz" and not stats_files:
        needs = f"{what} needs the features themselves ({expected}, .npy/.pt)"
        raise UsageError(name, f"{path} holds statistics (mean, covariance); {needs}")
    if suffix not in (".npz", *FEATURE_FILE_SUFFIXES):
        raise UsageError(name, f"{path} is not {expected}, a .npz statistics file or a .npy/.pt feature file")
    return "stats" if suffix == ".npz" else "features"


def check_options(args, kinds: list[str]) -> None:
    if args.batch_size < 1:
        raise UsageError("--batch-size", f"must be a positive integer, got {args.batch_size}")
    if args.num_workers is not None and args.num_workers < 0:
        raise UsageError("--num-workers", f"must be >= 0, got {args.num_workers}")
    if args.extractor == "digits" and args.protocol != DEFAULT_PROTOCOL:
        message = f"{args.protocol} applies to --extractor inception; digits has one preprocessing"
        raise UsageError("--protocol", message)
    if args.num_samples is not None and "run" not in kinds:
        raise UsageError("--num-samples", "applies to a run folder (its generator), and no source is one")
    if args.data_root is not None and "dataset" not in kinds:
        raise UsageError("--data-root", "applies to a dataset name, and no source is one")
    if args.num_samples is not None and args.num_samples < 2:
        raise UsageError("--num-samples", f"must be at least 2 (a covariance needs 2 samples), got {args.num_samples}")
    if args.dims is not None and {"run", "dataset", "folder"} & set(kinds):  # images: the extractor's dims
        _check_extractor_dims(args.extractor, args.dims)


def _check_extractor_dims(extractor: str, dims: int) -> None:
    """``--dims`` against what ``--extractor`` gives (files are checked against their own dimension)."""
    from fastgen.metrics.digits import DigitsExtractor
    from fastgen.metrics.inception import FEATURE_DIMS

    if extractor == "inception" and dims not in FEATURE_DIMS:
        expected = ", ".join(map(str, FEATURE_DIMS[:-1])) + f" or {FEATURE_DIMS[-1]}"
        raise UsageError("--dims", f"must be {expected} for the inception extractor, got {dims}")
    if extractor == "digits" and dims != DigitsExtractor.dims:
        raise UsageError("--dims", f"the digits extractor gives {DigitsExtractor.dims}-d features, got {dims}")


@contextmanager
def processes(args):
    """``(device, rank, world size)`` for the block; under torchrun the process group is started
    (fastgen.distributed's device rule) and left at the block's end, however the block ends."""
    from fastgen import distributed

    started = not distributed.is_distributed()
    try:
        device = distributed.setup(args.device)
    except ValueError as error:  # cuda:N under torchrun, more ranks than GPUs
        raise UsageError("--device", str(error)) from None
    try:
        yield device, distributed.rank(), distributed.world_size()
    finally:
        if started:
            distributed.teardown()


def check_dataset(name: str, dataset: str, args) -> None:
    """Load the dataset ``dataset`` once (its files found and read), or one line naming ``name``."""
    from fastgen.data import load_dataset

    root = {} if args.data_root is None else {"root": args.data_root}
    try:
        _, info = load_dataset(dataset, train=args.split == "train", **root)
    except (ValueError, OSError) as error:
        raise UsageError(name, str(error)) from None
    if len(info.sample_shape) != 3:
        raise UsageError(name, f"{dataset} holds points of shape {info.sample_shape}, not images")


class Sources:
    """The named sources of one command, checked, with the extractor and options they need."""

    def __init__(self, named: list[tuple[str, str]], args, device, kinds: list[str]):
        from fastgen.cli.run_source import load_run_generator
        from fastgen.metrics.extract import check_precision, get_extractor
        from fastgen.metrics.inception import FIDInceptionV3

        check_options(args, kinds)
        try:
            check_precision(args.precision, device)
        except ValueError as error:
            raise UsageError("--precision", str(error)) from None
        if args.precision != "float32" and os.environ.get("RANK", "0") == "0":
            print(
                f"note: --precision {args.precision}: these numbers are not comparable to published (float32) ones; "
                "use them to follow a run, not to report",
                file=sys.stderr,
            )
        self.named, self.args, self.kinds = named, args, kinds
        for (name, source), kind in zip(named, kinds, strict=True):
            if kind == "dataset":  # a missing --data-root or files: said before the weights are looked for
                check_dataset(name, source, args)
        self.inputs = [
            load_run_generator(name, source, device)[0] if kind == "run" else source
            for (name, source), kind in zip(named, kinds, strict=True)
        ]
        self.extractor = None
        if {"run", "dataset", "folder"} & set(kinds):
            self.extractor = get_extractor(args.extractor, dims=args.dims, weights=args.weights, device=device)
        workers = args.num_workers
        if workers is None:
            workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 1
        self.common = {
            "batch_size": args.batch_size,
            "num_workers": workers,
            "progress": not args.no_progress,
            "protocol": args.protocol if isinstance(self.extractor, FIDInceptionV3) else None,  # digits: its own
            "precision": args.precision,
            "skip_bad": args.skip_bad,
            "seed": args.seed,
            "split": args.split,
        }

    def options(self, kind: str) -> dict:
        """The keyword options of ``compute_statistics``/``compute_features`` for a source of ``kind``."""
        extra = {}
        if kind == "run":
            extra["num_samples"] = self.args.num_samples or DEFAULT_RUN_SAMPLES
        if kind == "dataset" and self.args.data_root is not None:
            extra["data_root"] = self.args.data_root
        return {**self.common, **extra}

    def each(self, compute, kinds: tuple[str, ...] | None = None, results: list | None = None) -> list:
        """``compute(input, extractor, **options)`` for every source (of ``kinds``, filling ``results``);
        a ValueError names the source."""
        results = results if results is not None else [None] * len(self.named)
        for index, ((name, source), kind) in enumerate(zip(self.named, self.kinds, strict=True)):
            if kinds is not None and kind not in kinds:
                continue
            try:
                results[index] = compute(self.inputs[index], self.extractor, **self.options(kind))
            except ValueError as error:  # PeerFailedError too: still reported by the process that met it
                message = str(error)
                if message.startswith("source: "):  # a generator's: say which run
                    message = f"{source}: {message.removeprefix('source: ')}"
                raise as_usage_error(name, error, message) from None
        return results

    def image_provenance(self) -> dict:
        """The provenance the image sources will have (known once the extractor is loaded)."""
        from fastgen.metrics.extract import extractor_provenance

        return extractor_provenance(self.extractor, self.common["protocol"])


def statistics_of(names_and_sources: list[tuple[str, str]], args, device) -> list:
    """FeatureStats of each source; the extractor is loaded only if some source is images.

    Refuses sets whose dimensions differ from each other or from ``--dims``, and (unless
    ``--allow-mismatch``) sets whose recorded protocol, extractor or weights differ.
    """
    from fastgen.metrics.extract import compute_statistics
    from fastgen.metrics.stats import FeatureStats

    kinds = [check_source(name, source) for name, source in names_and_sources]
    sources = Sources(names_and_sources, args, device, kinds)
    names = [f"{name} {source}" for name, source in names_and_sources]
    # the files first (cheap): a mismatch with how the images would be made is refused before the work
    stats = sources.each(compute_statistics, kinds=("stats", "features"))
    if sources.extractor is not None:
        expected = FeatureStats(1)
        expected.provenance = sources.image_provenance()
        known = [(n, s) for n, s in zip(names, stats, strict=True) if s is not None]
        images = [n for n, kind in zip(names, kinds, strict=True) if kind in ("run", "dataset", "folder")]
        _check_comparable(args, [*known, (" and ".join(images), expected)])
    sources.each(compute_statistics, kinds=("run", "dataset", "folder"), results=stats)
    dims = {name: s.dim for name, s in zip(names, stats, strict=True)}
    if args.dims is not None and any(d != args.dims for d in dims.values()):
        raise UsageError("--dims", f"{args.dims} does not match the feature dimension of every input: {dims}")
    if len(set(dims.values())) > 1:
        raise ValueError(f"the inputs have different feature dimensions {dims}: compute both with one extractor")
    _check_comparable(args, list(zip(names, stats, strict=True)))
    return stats


def _check_comparable(args, named: list) -> None:
    """check_comparable, unless --allow-mismatch (commands without that option compare nothing)."""
    from fastgen.metrics.stats import check_comparable

    if getattr(args, "allow_mismatch", True):
        return
    try:
        check_comparable(named)
    except ValueError as error:
        raise ValueError(f"{error}; --allow-mismatch compares them anyway") from None


def describe_count(kind: str, count: int | None, world: int) -> str:
    """``of 301 images over 2 processes``: what the statistics were computed from."""
    if count is None:
        return ""
    noun = "samples" if kind in ("stats", "features") else "images"
    over = f" over {world} processes" if world > 1 and kind not in ("stats", "features") else ""
    return f" of {count} {noun}{over}"


def known_count(name: str, kind: str, source: str, args) -> int | None:
    """How many samples a source will give, where that is known before any work (None: a dataset);
    a feature file is read (and refused, naming ``name``) here."""
    from fastgen.metrics.extract import load_features
    from fastgen.metrics.images import list_images

    if kind == "folder":
        return len(list_images(Path(source)))
    if kind == "run":
        return args.num_samples or DEFAULT_RUN_SAMPLES
    if kind == "features":
        try:
            return load_features(Path(source)).shape[0]
        except ValueError as error:
            raise UsageError(name, str(error)) from None
    return None


def features_of(
    metric: str, named: list[tuple[str, str]], args, device, minimum: int, why: str, logits: bool = False
) -> list:
    """The ``[N, d]`` features (``logits``: the classifier's logits) of each source for ``metric``
    (its name, for the refusal of a statistics file), CPU float32.

    Each set must give at least ``minimum`` samples (``why`` says which option asks for it): checked
    before any work where the count is known (folders, runs), and again on the rows. Sets of
    different feature sizes are refused, naming both.
    """
    import functools

    from fastgen.metrics.extract import compute_features

    kinds = [check_source(name, source, stats_files=False, what=metric) for name, source in named]
    check_options(args, kinds)
    for (name, source), kind in zip(named, kinds, strict=True):
        count = known_count(name, kind, source, args)
        if count is not None and count < minimum:
            raise UsageError(name, f"{source} gives {count} samples, fewer than {minimum} ({why})")
    sources = Sources(named, args, device, kinds)
    rows = sources.each(functools.partial(compute_features, logits=logits))
    for (name, source), matrix in zip(named, rows, strict=True):
        if matrix.shape[0] < minimum:
            raise UsageError(name, f"{source} gives {matrix.shape[0]} samples, fewer than {minimum} ({why})")
    sizes = {f"{name} {source}": matrix.shape[1] for (name, source), matrix in zip(named, rows, strict=True)}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the inputs have different feature sizes {sizes}: compute both with one extractor")
    return rows
