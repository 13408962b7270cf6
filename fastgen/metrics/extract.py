"""Feature statistics (and features) of a set of images, whatever form the set comes in.

A *source* is one of
- a folder of images (any of :data:`fastgen.image_files.IMAGE_EXTENSIONS`, searched recursively):
  run through a feature extractor batch by batch, with a progress bar over images;
- the name of an image dataset that training accepts (:data:`fastgen.data.DATASET_NAMES`, e.g.
  ``"mnist"``, ``"digits"``; ``data_root`` for data on disk): its images, never exported to files;
- a *generator*: a callable ``generate(n) -> images [n, C, H, W]`` (C = 1 or 3, uint8 or float in
  [0, 1]), called until ``num_samples`` images are drawn, under ``torch.inference_mode`` with torch's
  generator seeded by ``seed`` (and restored afterwards): a model is evaluated without files;
- a ``.npz`` statistics file with keys ``mu`` and ``sigma`` (written by ``fastgen stats`` or by
  pytorch-fid): loaded as is;
- a ``.npy`` or ``.pt`` file holding one ``[N, d]`` float feature matrix: its mean and covariance.

Images in memory are quantized to 8 bits first (:func:`fastgen.metrics.images.float_to_uint8`), so a
generator's samples give the features they would give saved as PNGs and read back.

An *extractor* is an ``nn.Module`` with an attribute ``dims`` (d) whose ``forward(images)`` takes
``[N, C, H, W]`` uint8 images and returns ``(features [N, d], logits [N, classes])``:
:class:`~fastgen.metrics.inception.FIDInceptionV3` and the embedded digits network follow it.
Its optional attribute ``input_channels`` (3 if absent) says how the files are decoded: 3 turns
gray images into RGB, 1 turns RGB into gray (PIL's ITU-R 601-2 luma).

Statistics computed here carry a :attr:`FeatureStats.provenance` (protocol, extractor, dims, SHA-256
of the weights, source) that ``FeatureStats.save`` writes and :func:`fastgen.metrics.stats.check_comparable`
compares.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from fastgen.image_files import UnreadableImageError
from fastgen.metrics.images import BadImage, ImageBatch, float_to_uint8, image_loader, list_images, pil_gray
from fastgen.metrics.preprocess import Protocol, get_protocol
from fastgen.metrics.stats import FeatureStats
from fastgen.metrics.tensor_files import describe_file, load_tensor_file, sha256_of

EXTRACTORS = ("inception", "digits")
FEATURE_FILE_SUFFIXES = (".npy", ".pt")
NETWORK_PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_GENERATOR_SAMPLES = 50_000  # the FID standard (Heusel et al. 2017)
Generator = Callable[[int], torch.Tensor]


def get_extractor(
    name: str = "inception",
    dims: int | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """The feature extractor called ``name``, in eval mode on ``device``.

    - ``"inception"``: :class:`FIDInceptionV3` with the standard FID weights, read from ``weights``
      or the torch hub cache (never downloaded); ``dims`` in 64, 192, 768, 2048 (default 2048).
    - ``"digits"``: the embedded MNIST network (128-d features, 10 classes), no file needed.

    The extractor's ``provenance`` attribute names it and the SHA-256 of its weight file.
    """
    if name == "inception":
        from fastgen.metrics.inception import load_inception_extractor

        return load_inception_extractor(weights, dims=2048 if dims is None else dims, device=device)
    if name == "digits":
        from fastgen.metrics.digits import WEIGHTS_PATH, load_digits_extractor

        if weights is not None:
            raise ValueError("weights: the digits extractor ships with fastgen; weights= applies to 'inception' only")
        extractor = load_digits_extractor(device=device)
        if dims is not None and dims != extractor.dims:
            raise ValueError(f"dims: the digits extractor gives {extractor.dims}-d features, got dims = {dims}")
        extractor.provenance = {
            "extractor": "digits",
            "dims": extractor.dims,
            "weights_sha256": sha256_of(WEIGHTS_PATH),
        }
        return extractor
    raise ValueError(f"extractor name must be one of {EXTRACTORS}, got {name!r}")


def extractor_provenance(extractor: nn.Module, protocol: str | None) -> dict:
    """What made a set's features: the protocol, the extractor's name, dims and weights' SHA-256.

    An extractor without a ``provenance`` attribute (one of the user's) is named by its class and
    identified by the SHA-256 of its state dict's bytes.
    """
    known = getattr(extractor, "provenance", None)
    if known is None:
        import hashlib

        digest = hashlib.sha256()
        for key, value in extractor.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        known = {
            "extractor": type(extractor).__qualname__,
            "dims": extractor.dims,
            "weights_sha256": digest.hexdigest(),
        }
    return {"protocol": protocol, **known}


class ImageOptions(NamedTuple):
    """How a set of images becomes features (the arguments of :func:`compute_statistics`)."""

    batch_size: int = 50
    num_workers: int = 0
    progress: bool = True
    protocol: str | None = None
    precision: str = "float32"
    skip_bad: bool = False
    num_samples: int | None = None  # generator: how many (default 50,000); dataset: the first N
    seed: int = 0  # a generator's seed
    data_root: str | None = None  # a dataset's folder on disk (e.g. the full MNIST)
    split: str = "train"  # a dataset's split


def source_kind(source) -> str:
    """``"generator"``, ``"dataset"``, ``"folder"``, ``"stats"`` or ``"features"``; ValueError for anything else.

    A dataset name wins over a folder of the same name, as in training.
    """
    from fastgen.data import DATASET_NAMES

    if callable(source):
        return "generator"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path, a dataset name or a generator callable, got {type(source).__name__}")
    if isinstance(source, str) and source in DATASET_NAMES:
        return "dataset"
    path = Path(source)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise FileNotFoundError(
            f"source {path} does not exist (expected an image folder, a dataset name ({', '.join(DATASET_NAMES)}), "
            ".npz, .npy or .pt file)"
        )
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "stats"
    if suffix in FEATURE_FILE_SUFFIXES:
        return "features"
    raise ValueError(f"source {path}: expected an image folder, a .npz statistics file or a .npy/.pt feature file")


def compute_statistics(
    source,
    extractor: nn.Module | None = None,
    *,
    batch_size: int = 50,
    device: torch.device | str | None = None,
    num_workers: int = 0,
    progress: bool = True,
    protocol: str | None = None,
    precision: str = "float32",
    skip_bad: bool = False,
    num_samples: int | None = None,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    split: str = "train",
) -> FeatureStats:
    """Mean and covariance of the features of ``source`` (see the module docstring for the forms).

    Args:
        extractor: needed for images (a folder, a dataset, a generator); when given, a file's
            dimension must equal its ``dims``.
        batch_size, num_workers: of the image DataLoader (``batch_size``: also the generator's calls).
        device: where the extractor runs (it is moved there); default: where its parameters are
            (the CPU for an extractor without parameters).
        progress: show a tqdm bar over images (on stderr).
        protocol: the preprocessing of :mod:`fastgen.metrics.preprocess` (``"pytorch-fid"``,
            ``"torch-fidelity"``, ``"torchmetrics"``, ``"clean-fid"``) for an extractor with ``embed`` (Inception);
            None: the extractor's own ``forward`` on uint8 images.
        precision: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` (CUDA only): the dtype
            the network runs in (autocast); statistics are always accumulated in float64.
        skip_bad: count and skip image files that cannot be decoded, instead of stopping at the first.
        num_samples: a generator's sample count (default 50,000); a dataset's first ``num_samples``.
        seed: seeds torch's generator while a generator draws (restored afterwards).
        data_root, split: a dataset's folder on disk and split (``"train"`` or ``"test"``).

    When ``torch.distributed`` is initialized, each process takes a contiguous share of a folder's
    images, a dataset's images or a generator's samples (drawn with ``seed + rank``) and the
    statistics are all-reduced, so every process returns those of the whole set.

    Returns:
        :class:`FeatureStats` of dimension d, with its ``provenance``. Raises FileNotFoundError for
        a missing source, ValueError (naming the source) for an unknown file type, a feature matrix
        that is not ``[N, d]``, a dimension that is not the extractor's, an unreadable image,
        a generator's wrong output, or fewer than 2 images.
    """
    options = ImageOptions(
        batch_size, num_workers, progress, protocol, precision, skip_bad, num_samples, seed, data_root, split
    )
    kind = source_kind(source)
    _check_options(kind, source, options)
    if kind in ("folder", "dataset", "generator"):
        if extractor is None:
            raise ValueError(f"source {_name(source)} is images ({kind}): compute_statistics needs an extractor")
        return image_statistics(source, extractor, options, device)
    path = Path(source)
    expected = None if extractor is None else extractor.dims
    if kind == "stats":
        stats = FeatureStats.load(path)
    else:
        features = load_features(path)
        stats = FeatureStats(features.shape[1]).update(features)
        stats.provenance = None  # a bare matrix: nothing says how it was made
    if expected is not None and stats.dim != expected:
        raise ValueError(
            f"source {path} holds {stats.dim}-dimensional features but the extractor gives {expected}: "
            "statistics are comparable only when computed with the same extractor and dims"
        )
    return stats


def compute_features(
    source,
    extractor: nn.Module | None = None,
    *,
    logits: bool = False,
    device: torch.device | str | None = None,
    **options,
) -> torch.Tensor:
    """The float32 ``[N, d]`` features (``logits=True``: ``[N, classes]`` logits) of ``source``, on the CPU.

    For KID, precision/recall and the Inception Score, which need the rows, not their moments.
    ``source`` and the keyword options are those of :func:`compute_statistics`, except that a
    ``.npz`` of statistics is refused (it has no rows) and a ``.npy``/``.pt`` file is returned as
    it is (features or logits, whichever it holds). Under torch.distributed each process computes
    its share of the rows and every process returns all of them, in rank order.
    """
    options = ImageOptions(**options)
    kind = source_kind(source)
    _check_options(kind, source, options)
    if kind == "stats":
        raise ValueError(
            f"source {source} is a .npz of statistics (mean, covariance): this metric needs the features "
            "themselves (an image folder, a run, a dataset or a .npy/.pt feature file)"
        )
    if kind == "features":
        return load_features(Path(source)).float()
    if extractor is None:
        raise ValueError(f"source {_name(source)} is images ({kind}): compute_features needs an extractor")
    from fastgen import distributed

    rows: list[torch.Tensor] = []
    sink = lambda f, lg: rows.append((lg if logits else f).float().cpu())  # noqa: E731
    _extract(source, kind, extractor, options, device, sink, rank_and_world())
    return distributed.gather_rows(torch.cat(rows))


def _name(source) -> str:
    return getattr(source, "__name__", type(source).__name__) if callable(source) else str(source)


def _check_options(kind: str, source, options: ImageOptions) -> None:
    """Refuse options that do not apply to this kind of source, or values out of range."""
    if options.num_samples is not None:
        if kind not in ("generator", "dataset"):
            raise ValueError(f"num_samples applies to a generator or a dataset, not to {kind} {source}")
        if isinstance(options.num_samples, bool) or not isinstance(options.num_samples, int):
            raise ValueError(f"num_samples must be an int, got {options.num_samples!r}")
        if options.num_samples < 2:
            raise ValueError(f"num_samples must be at least 2 (a covariance needs 2 rows), got {options.num_samples}")
    if options.data_root is not None and kind != "dataset":
        raise ValueError(f"data_root applies to a dataset name, not to {kind} {source}")
    if options.split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {options.split!r}")


def load_features(path: Path) -> torch.Tensor:
    """The [N, d] floating matrix stored in a .npy (no pickle) or .pt (``weights_only``) file.

    ValueError naming the file for anything else: not such a file, a pickle, a dict, NaN rows.
    """
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            if "Object arrays" in str(error):
                kind = "an array of Python objects, which fastgen never unpickles"
            else:  # say what the file is instead
                kind = describe_file(path).replace("a numpy .npy file", "a truncated or damaged .npy file")
            message = f"source {path} is not a readable feature file (a numeric .npy array): it is {kind}"
            raise ValueError(message) from None
        if array.dtype.kind != "f" or array.dtype.itemsize > 8:  # strings, records... torch takes none of them
            raise ValueError(
                f"source {path} must hold an [N, d] float matrix, got shape {list(array.shape)} {array.dtype}"
            )
        features = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=False))  # big-endian too
    else:
        features = load_tensor_file(path, "source", "a feature file (one [N, d] tensor saved by torch.save)")
    if not isinstance(features, torch.Tensor):
        raise ValueError(f"source {path} must hold one [N, d] tensor, got {type(features).__name__}")
    if features.dim() != 2 or not features.is_floating_point():
        shape = list(features.shape)
        raise ValueError(f"source {path} must hold an [N, d] float matrix, got shape {shape} {features.dtype}")
    if features.shape[0] < 2:
        raise ValueError(f"source {path} holds {features.shape[0]} feature row(s); a covariance needs at least 2")
    bad = (~torch.isfinite(features)).any(dim=1).nonzero().flatten().tolist()
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        raise ValueError(f"source {path} holds NaN or Inf in {len(bad)} of its {features.shape[0]} rows (rows {shown})")
    return features


def check_precision(precision: str, device: torch.device) -> torch.dtype:
    """The network dtype called ``precision``; float16 only on CUDA (CPUs lack fast float16 convolutions)."""
    if precision not in NETWORK_PRECISIONS:
        raise ValueError(f"precision must be one of {list(NETWORK_PRECISIONS)}, got {precision!r}")
    if precision == "float16" and device.type != "cuda":
        raise ValueError(f"precision float16 runs on CUDA only (the device is {device}); use bfloat16 on a CPU")
    return NETWORK_PRECISIONS[precision]


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the world size (0, 1 outside torch.distributed)."""
    from fastgen import distributed

    return distributed.rank(), distributed.world_size()


def shard(items):
    """This process's contiguous share of ``items`` (all of them in a single process)."""
    from fastgen import distributed

    return distributed.contiguous_share(items)


def image_statistics(source, extractor: nn.Module, options: ImageOptions | None = None, device=None) -> FeatureStats:
    """Statistics of the features of a folder, dataset or generator; see :func:`compute_statistics`.

    Under torch.distributed each process takes its share and the statistics are all-reduced.
    """
    options = options or ImageOptions()
    kind = source_kind(source)
    stats = FeatureStats(extractor.dims)
    rank, world = rank_and_world()
    protocol = _extract(source, kind, extractor, options, device, lambda f, lg: stats.update(f.float()), (rank, world))
    if world > 1:
        stats.all_reduce()
    if stats.count < 2:
        raise ValueError(f"source {_name(source)} has {stats.count} readable image(s); a covariance needs at least 2")
    stats.provenance = {**extractor_provenance(extractor, protocol), "source": _describe(source, kind, options)}
    return stats


def _describe(source, kind: str, options: ImageOptions) -> str:
    if kind == "generator":
        return f"generator {_name(source)}, seed {options.seed}"
    if kind == "dataset":
        return f"dataset {source} ({options.split})"
    return str(source)


class _Batches(NamedTuple):
    """The image batches of a source, how many images they hold, and its name for the progress bar."""

    batches: Iterator[ImageBatch]
    total: int
    name: str


def _extract(source, kind, extractor, options, device, sink, ranks: tuple[int, int]) -> str | None:
    """Run ``extractor`` over the images of ``source`` (this process's share), calling
    ``sink(features, logits)`` per batch; returns the protocol's name (None: the extractor's own)."""
    from tqdm.auto import tqdm

    rank, world = ranks
    if device is not None:
        extractor.to(device)
    parameter = next(extractor.parameters(), None)
    device = torch.device("cpu") if parameter is None else parameter.device
    dtype = check_precision(options.precision, device)
    protocol = None if options.protocol is None else get_protocol(options.protocol)
    if protocol is not None and not hasattr(extractor, "embed"):
        raise ValueError(f"protocol {protocol.name!r} needs an extractor with embed() (the Inception network)")
    channels = getattr(extractor, "input_channels", 3)
    if kind == "folder":
        source_batches = _folder_batches(Path(source), protocol, channels, options, device)
    elif kind == "dataset":
        source_batches = _dataset_batches(source, protocol, options, channels)
    else:
        source_batches = _generator_batches(source, protocol, options, device, rank, channels)
    skipped: list[BadImage] = []
    quiet = not options.progress or rank != 0
    extractor.eval()
    with (
        tqdm(total=source_batches.total, desc=source_batches.name, unit="img", disable=quiet) as bar,
        torch.inference_mode(),
        _precision(device, dtype),
        _cpu_shares(device) as shares,
    ):
        for batch in source_batches.batches:
            skipped += batch.bad
            if batch.bad and not options.skip_bad:
                break
            if len(batch):
                sink(*shares(lambda images: _features(extractor, protocol, images, device), batch.images))
            bar.update(len(batch) + len(batch.bad))
    skipped_total = _check_skipped(skipped, options.skip_bad, world)
    if skipped_total and rank == 0:
        first = skipped[0].message if skipped else "see the other processes"
        print(f"skipped {skipped_total} unreadable image(s) in {source} (first: {first})", file=sys.stderr)
    return None if protocol is None else protocol.name


def _folder_batches(folder: Path, protocol, channels, options, device) -> _Batches:
    paths = shard(list_images(folder))
    loader = image_loader(
        paths,
        channels=channels,
        prepare=None if protocol is None else protocol.prepare_image,
        batch_size=options.batch_size,
        num_workers=options.num_workers,
        pin_memory=device.type == "cuda",
    )
    return _Batches(iter(loader), len(paths), folder.name or str(folder))


def _in_memory(images: torch.Tensor, protocol: Protocol | None, channels: int) -> ImageBatch:
    """A batch of images held in memory → uint8 (float ones rounded: as if saved to PNG), RGB made
    gray for a gray extractor as files are decoded (PIL's luma), prepared image by image where the
    protocol prepares images one at a time (clean-fid)."""
    if images.dtype != torch.uint8:
        images = float_to_uint8(images)
    images = images.cpu()
    if channels == 1 and images.shape[1] == 3:
        images = pil_gray(images)
    if protocol is not None and type(protocol).prepare_image is not Protocol.prepare_image:
        prepared = [protocol.prepare_image(image.permute(1, 2, 0).numpy()) for image in images]
        return ImageBatch(torch.stack(prepared), [])
    return ImageBatch(images, [])


def _dataset_batches(name: str, protocol, options: ImageOptions, channels: int) -> _Batches:
    from torch.utils.data import DataLoader, Subset

    from fastgen.data import load_dataset

    kwargs = {} if options.data_root is None else {"root": options.data_root}
    dataset, info = load_dataset(name, train=options.split == "train", num_samples=options.num_samples, **kwargs)
    if len(info.sample_shape) != 3:
        raise ValueError(f"source {name} holds {info.sample_shape}-shaped points, not images")
    share = Subset(dataset, shard(range(len(dataset))))
    loader = DataLoader(share, batch_size=options.batch_size, num_workers=options.num_workers)
    batches = (_in_memory(images, protocol, channels) for images, _ in loader)
    return _Batches(batches, len(share), f"{name} ({options.split})")


def _generator_batches(
    generate: Generator, protocol, options: ImageOptions, device, rank: int, channels: int
) -> _Batches:
    total = options.num_samples if options.num_samples is not None else DEFAULT_GENERATOR_SAMPLES
    count = len(shard(range(total)))

    def batches() -> Iterator[ImageBatch]:
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the caller's random state is left as it was
            torch.manual_seed(options.seed + rank)
            for start in range(0, count, options.batch_size):
                n = min(options.batch_size, count - start)
                yield _in_memory(_checked_samples(generate, n), protocol, channels)

    return _Batches(batches(), count, _name(generate))


def _checked_samples(generate: Generator, n: int) -> torch.Tensor:
    """``generate(n)``, refused in one line unless it is ``[n, C, H, W]`` images, C = 1 or 3."""
    images = generate(n)
    expected = f"a tensor [{n}, C, H, W] with C = 1 or 3, uint8 or float in [0, 1]"
    if not isinstance(images, torch.Tensor):
        raise ValueError(
            f"source: the generator returned a {type(images).__name__} for {n} images; expected {expected}"
        )
    if images.dim() != 4 or images.shape[0] != n or images.shape[1] not in (1, 3) or images.shape[-1] < 1:
        raise ValueError(
            f"source: the generator returned shape {list(images.shape)} for {n} images; expected {expected}"
        )
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ValueError(f"source: the generator returned {images.dtype} images; expected {expected}")
    if images.is_floating_point():
        low, high = float(images.min()), float(images.max())
        if not (low >= 0 and high <= 1):  # also false for NaN
            raise ValueError(
                f"source: the generator returned values in [{low:.4g}, {high:.4g}]; expected {expected} "
                "(map [-1, 1] outputs with (x + 1) / 2)"
            )
    return images


def _precision(device: torch.device, dtype: torch.dtype):
    """The network's precision: strict float32, or autocast to ``dtype`` (thread-local: entered per thread)."""
    return strict_float32() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype)


@contextlib.contextmanager
def _cpu_shares(device: torch.device):
    """``run(features, images)``: on a CPU with T > 1 torch threads, each batch is cut into T
    contiguous shares run at once by T Python threads of one intra-op thread each, and the results
    concatenated in order; elsewhere ``features(images)`` as it is.

    Why: the Inception network's late layers are small (17×17 and 8×8 maps), where one convolution
    split over threads spends much of its time at OpenMP's barriers; independent images on
    independent cores do not wait for each other. Measured on the 2-core AMD EPYC (load 5-8): 0.22
    CPU seconds per image against 0.33, wall 0.45 s against 0.68 s (bench/RESULTS.md). Each image's
    features stay those of the same network; only float32 rounding may differ with the share size.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield lambda features, images: features(images)
        return
    from concurrent.futures import ThreadPoolExecutor

    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else torch.float32

    def run(features, images):
        n = len(images)
        if n < 2:
            return features(images)
        cuts = [k * n // threads for k in range(threads + 1)]
        parts = [images[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]

        def share(part):  # inference mode and autocast are per thread
            with torch.inference_mode(), _precision(device, dtype):
                return features(part)

        results = list(pool.map(share, parts))
        return torch.cat([f for f, _ in results]), torch.cat([lg for _, lg in results])

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="fastgen-features") as pool:
            yield run
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def strict_float32():
    """float32 means float32 on CUDA too: cuDNN and cuBLAS would otherwise use TF32 (10-bit mantissa)
    for convolutions on Ampere and later GPUs, moving the features by ~1e-3."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _check_skipped(skipped: list[BadImage], skip_bad: bool, world: int) -> int:
    """The number of unreadable files over all processes; raises for one unless ``skip_bad``."""
    total = len(skipped)
    if world > 1:
        from fastgen import distributed

        total = int(distributed.all_reduce_sum([total])[0])  # every process learns whether one of them stopped
    if total and not skip_bad:
        if skipped:
            raise UnreadableImageError(f"{skipped[0].message} (pass --skip-bad to skip unreadable images)")
        raise PeerFailedError("another process met an unreadable image")
    return total


class PeerFailedError(ValueError):
    """Raised on the processes that did not meet the error another process reports; marked
    ``reported_by_another_process``, so that `fastgen` exits on them without printing it again."""

    reported_by_another_process = True


def _features(
    extractor: nn.Module, protocol: Protocol | None, images: torch.Tensor | list[torch.Tensor], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The extractor's (features, logits) of one batch; a list (mixed sizes) is preprocessed image by image."""
    many = images if isinstance(images, list) else [images]
    many = [image.to(device, non_blocking=True) for image in many]
    if isinstance(images, list):
        many = [image[None] for image in many]
    prepare = protocol.network_input if protocol is not None else getattr(extractor, "preprocess", None)
    if prepare is None or not hasattr(extractor, "embed"):
        outputs = [extractor(image) for image in many]
        return torch.cat([f for f, _ in outputs]), torch.cat([lg for _, lg in outputs])
    return extractor.embed(torch.cat([prepare(image) for image in many]))
