"""Feature statistics of a set of images, whatever form the set comes in.

A *source* is one of
- a folder of images (any of :data:`fastgen.image_files.IMAGE_EXTENSIONS`, searched recursively):
  run through a feature extractor batch by batch, with a progress bar over images;
- a ``.npz`` statistics file with keys ``mu`` and ``sigma`` (written by ``fastgen stats`` or by
  pytorch-fid): loaded as is;
- a ``.npy`` or ``.pt`` file holding one ``[N, d]`` float feature matrix: its mean and covariance.

An *extractor* is an ``nn.Module`` with an attribute ``dims`` (d) whose ``forward(images)`` takes
``[N, C, H, W]`` uint8 images and returns ``(features [N, d], logits [N, classes])``:
:class:`~fastgen.metrics.inception.FIDInceptionV3` and the embedded digits network follow it.
Its optional attribute ``input_channels`` (3 if absent) says how the files are decoded: 3 turns
gray images into RGB, 1 turns RGB into gray (PIL's ITU-R 601-2 luma).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from fastgen.image_files import UnreadableImageError
from fastgen.metrics.images import BadImage, image_loader, list_images
from fastgen.metrics.preprocess import Protocol, get_protocol
from fastgen.metrics.stats import FeatureStats

EXTRACTORS = ("inception", "digits")
FEATURE_FILE_SUFFIXES = (".npy", ".pt")
NETWORK_PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    """
    if name == "inception":
        from fastgen.metrics.inception import load_inception_extractor

        return load_inception_extractor(weights, dims=2048 if dims is None else dims, device=device)
    if name == "digits":
        from fastgen.metrics.digits import load_digits_extractor

        if weights is not None:
            raise ValueError("weights: the digits extractor ships with fastgen; weights= applies to 'inception' only")
        extractor = load_digits_extractor(device=device)
        if dims is not None and dims != extractor.dims:
            raise ValueError(f"dims: the digits extractor gives {extractor.dims}-d features, got dims = {dims}")
        return extractor
    raise ValueError(f"extractor name must be one of {EXTRACTORS}, got {name!r}")


def compute_statistics(
    source: str | os.PathLike,
    extractor: nn.Module | None = None,
    *,
    batch_size: int = 50,
    device: torch.device | str | None = None,
    num_workers: int = 0,
    progress: bool = True,
    protocol: str | None = None,
    precision: str = "float32",
    skip_bad: bool = False,
) -> FeatureStats:
    """Mean and covariance of the features of ``source`` (see the module docstring for the forms).

    Args:
        extractor: needed for an image folder; when given, a file's dimension must equal its ``dims``.
        batch_size, num_workers: of the image DataLoader.
        device: where the extractor runs (it is moved there); default: where its parameters are
            (the CPU for an extractor without parameters).
        progress: show a tqdm bar over images (on stderr).
        protocol: the preprocessing of :mod:`fastgen.metrics.preprocess` (``"pytorch-fid"``,
            ``"torch-fidelity"``, ``"torchmetrics"``, ``"clean-fid"``) for an extractor with ``embed`` (Inception);
            None: the extractor's own ``forward`` on uint8 images.
        precision: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"`` (CUDA only): the dtype
            the network runs in (autocast); statistics are always accumulated in float64.
        skip_bad: count and skip image files that cannot be decoded, instead of stopping at the first.

    When ``torch.distributed`` is initialized, each process takes a contiguous share of a folder's
    images and the statistics are all-reduced, so every process returns those of the whole folder.

    Returns:
        :class:`FeatureStats` of dimension d. Raises FileNotFoundError for a missing source,
        ValueError for an unknown file type, a feature matrix that is not ``[N, d]``, a dimension
        that is not the extractor's, an unreadable image (naming it), or fewer than 2 images.
    """
    path = Path(source)
    expected = None if extractor is None else extractor.dims
    if path.is_dir():
        if extractor is None:
            raise ValueError(f"source {path} is an image folder: compute_statistics needs an extractor")
        options = ImageOptions(batch_size, num_workers, progress, protocol, precision, skip_bad)
        return image_statistics(path, extractor, options, device)
    if not path.exists():
        raise FileNotFoundError(f"source {path} does not exist (expected an image folder, .npz, .npy or .pt file)")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        stats = FeatureStats.load(path)
    elif suffix in FEATURE_FILE_SUFFIXES:
        features = _load_features(path)
        if features.shape[0] < 2:
            raise ValueError(f"source {path} holds {features.shape[0]} feature row(s); a covariance needs at least 2")
        stats = FeatureStats(features.shape[1]).update(features)
    else:
        raise ValueError(f"source {path}: expected an image folder, a .npz statistics file or a .npy/.pt feature file")
    if expected is not None and stats.dim != expected:
        raise ValueError(
            f"source {path} holds {stats.dim}-dimensional features but the extractor gives {expected}: "
            "statistics are comparable only when computed with the same extractor and dims"
        )
    return stats


def _load_features(path: Path) -> torch.Tensor:
    """The [N, d] floating matrix stored in a .npy (no pickle) or .pt (``weights_only``) file."""
    try:
        if path.suffix.lower() == ".npy":
            features = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            features = torch.load(path, map_location="cpu", weights_only=True)
    except (ValueError, OSError, RuntimeError, EOFError) as error:
        raise ValueError(f"source {path} is not a readable feature file: {error}") from error
    if not isinstance(features, torch.Tensor):
        raise ValueError(f"source {path} must hold one [N, d] tensor, got {type(features).__name__}")
    if features.dim() != 2 or not features.is_floating_point():
        shape = list(features.shape)
        raise ValueError(f"source {path} must hold an [N, d] float matrix, got shape {shape} {features.dtype}")
    return features


class ImageOptions(NamedTuple):
    """How a folder of images becomes features (the arguments of :func:`compute_statistics`)."""

    batch_size: int = 50
    num_workers: int = 0
    progress: bool = True
    protocol: str | None = None
    precision: str = "float32"
    skip_bad: bool = False


def check_precision(precision: str, device: torch.device) -> torch.dtype:
    """The network dtype called ``precision``; float16 only on CUDA (CPUs lack fast float16 convolutions)."""
    if precision not in NETWORK_PRECISIONS:
        raise ValueError(f"precision must be one of {list(NETWORK_PRECISIONS)}, got {precision!r}")
    if precision == "float16" and device.type != "cuda":
        raise ValueError(f"precision float16 runs on CUDA only (the device is {device}); use bfloat16 on a CPU")
    return NETWORK_PRECISIONS[precision]


def shard(paths: list[Path]) -> tuple[list[Path], int, int]:
    """This process's contiguous share of ``paths`` under torch.distributed, with its rank and the world size."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return paths, 0, 1
    rank, world = dist.get_rank(), dist.get_world_size()
    return paths[rank * len(paths) // world : (rank + 1) * len(paths) // world], rank, world


def image_statistics(
    folder: str | os.PathLike,
    extractor: nn.Module,
    options: ImageOptions | None = None,
    device: torch.device | str | None = None,
) -> FeatureStats:
    """Statistics of the features of the images in ``folder``; see :func:`compute_statistics`."""
    from tqdm.auto import tqdm

    options = options or ImageOptions()
    folder = Path(folder)
    paths, rank, world = shard(list_images(folder))
    if device is not None:
        extractor.to(device)
    parameter = next(extractor.parameters(), None)
    device = torch.device("cpu") if parameter is None else parameter.device
    dtype = check_precision(options.precision, device)
    protocol = None if options.protocol is None else get_protocol(options.protocol)
    if protocol is not None and not hasattr(extractor, "embed"):
        raise ValueError(f"protocol {protocol.name!r} needs an extractor with embed() (the Inception network)")
    loader = image_loader(
        paths,
        channels=getattr(extractor, "input_channels", 3),
        prepare=None if protocol is None else protocol.prepare_image,
        batch_size=options.batch_size,
        num_workers=options.num_workers,
        pin_memory=device.type == "cuda",
    )
    stats = FeatureStats(extractor.dims)
    skipped: list[BadImage] = []
    quiet = not options.progress or rank != 0
    extractor.eval()
    with (
        tqdm(total=len(paths), desc=folder.name or str(folder), unit="img", disable=quiet) as bar,
        torch.inference_mode(),
        strict_float32() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype),
    ):
        for batch in loader:
            skipped += batch.bad
            if batch.bad and not options.skip_bad:
                break
            if len(batch):
                stats.update(_features(extractor, protocol, batch.images, device).float())
            bar.update(len(batch) + len(batch.bad))
    skipped_total = _check_skipped(skipped, options.skip_bad, world)
    if world > 1:
        stats.all_reduce()
    if skipped_total and rank == 0:
        first = skipped[0].message if skipped else "see the other processes"
        print(f"skipped {skipped_total} unreadable image(s) in {folder} (first: {first})", file=sys.stderr)
    if stats.count < 2:
        raise ValueError(f"source {folder} has {stats.count} readable image(s); a covariance (FID) needs at least 2")
    return stats


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
        import torch.distributed as dist

        count = torch.tensor([total], dtype=torch.int64)
        dist.all_reduce(count)  # every process learns whether one of them stopped
        total = int(count.item())
    if total and not skip_bad:
        if skipped:
            raise UnreadableImageError(f"{skipped[0].message} (pass --skip-bad to skip unreadable images)")
        raise PeerFailedError("another process met an unreadable image")
    return total


class PeerFailedError(ValueError):
    """Raised on the processes that did not meet the error another process reports."""


def _features(
    extractor: nn.Module, protocol: Protocol | None, images: torch.Tensor | list[torch.Tensor], device: torch.device
) -> torch.Tensor:
    """The extractor's features of one batch; a list (mixed sizes) is preprocessed image by image."""
    many = images if isinstance(images, list) else [images]
    many = [image.to(device, non_blocking=True) for image in many]
    if isinstance(images, list):
        many = [image[None] for image in many]
    prepare = protocol.network_input if protocol is not None else getattr(extractor, "preprocess", None)
    if prepare is None or not hasattr(extractor, "embed"):
        return torch.cat([extractor(image)[0] for image in many])
    return extractor.embed(torch.cat([prepare(image) for image in many]))[0]
