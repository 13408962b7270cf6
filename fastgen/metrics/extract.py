"""Feature statistics of a set of images, whatever form the set comes in.

A *source* is one of
- a folder of PNG/JPEG images (searched recursively, see :func:`fastgen.metrics.images.list_images`):
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

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fastgen.metrics.images import image_loader
from fastgen.metrics.stats import FeatureStats

EXTRACTORS = ("inception", "digits")
FEATURE_FILE_SUFFIXES = (".npy", ".pt")


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
) -> FeatureStats:
    """Mean and covariance of the features of ``source`` (see the module docstring for the forms).

    Args:
        extractor: needed for an image folder; when given, a file's dimension must equal its ``dims``.
        batch_size, num_workers: of the image DataLoader.
        device: where the extractor runs (it is moved there); default: where its parameters are
            (the CPU for an extractor without parameters).
        progress: show a tqdm bar over images (on stderr).

    Returns:
        :class:`FeatureStats` of dimension d. Raises FileNotFoundError for a missing source,
        ValueError for an unknown file type, a feature matrix that is not ``[N, d]``, or a dimension
        that is not the extractor's.
    """
    path = Path(source)
    expected = None if extractor is None else extractor.dims
    if path.is_dir():
        if extractor is None:
            raise ValueError(f"source {path} is an image folder: compute_statistics needs an extractor")
        return _image_statistics(path, extractor, batch_size, device, num_workers, progress)
    if not path.exists():
        raise FileNotFoundError(f"source {path} does not exist (expected an image folder, .npz, .npy or .pt file)")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        stats = FeatureStats.load(path)
    elif suffix in FEATURE_FILE_SUFFIXES:
        features = _load_features(path)
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


def _image_statistics(
    folder: Path,
    extractor: nn.Module,
    batch_size: int,
    device: torch.device | str | None,
    num_workers: int,
    progress: bool,
) -> FeatureStats:
    from tqdm.auto import tqdm

    if device is not None:
        extractor.to(device)
    parameter = next(extractor.parameters(), None)
    device = torch.device("cpu") if parameter is None else parameter.device
    channels = getattr(extractor, "input_channels", 3)
    loader = image_loader(
        folder, channels=channels, batch_size=batch_size, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    stats = FeatureStats(extractor.dims)
    extractor.eval()
    with (
        tqdm(total=len(loader.dataset), desc=folder.name or str(folder), unit="img", disable=not progress) as bar,
        torch.inference_mode(),
    ):
        for images in loader:
            features, _ = extractor(images.to(device, non_blocking=True))
            stats.update(features)
            bar.update(len(images))
    return stats
