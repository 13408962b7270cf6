"""Metric objects that take images: ``FID``, ``KID``, ``InceptionScore``, ``PrecisionRecall``.

They follow torchmetrics' image metrics in method names and meaning, so a validation loop written
for torchmetrics reads the same::

    fid = FID(extractor="digits")           # or "inception" (needs its weights), or an nn.Module
    for real_images, fake_images in loader:
        fid.update(real_images, real=True)   # uint8 [N, C, H, W]; float in [0, 1] with normalize=True
        fid.update(fake_images, real=False)
    value = fid.compute()                    # a float
    fid.reset()                              # forgets the fake side (the real too unless
                                             # reset_real_features=False)

What each holds between ``update`` and ``compute``:

- ``FID``: a :class:`~fastgen.metrics.stats.FeatureStats` per side (count, shifted sums, Gram in
  float64: O(d²) memory whatever the number of images).
- ``KID`` and ``PrecisionRecall``: the feature rows of each side (they need every sample), on the
  extractor's device.
- ``InceptionScore``: the logits of the images (``update(images)``, no ``real``: IS has no
  reference set).

Images go through the extractor as the rest of fastgen runs it: float images are first rounded to
the 256 levels of a uint8 file (``round(255·x)``; torchmetrics truncates, ``(x · 255).byte()``);
the Inception network gets them through ``protocol`` (:mod:`fastgen.metrics.preprocess`), other
extractors through their own ``forward``. The network runs under ``torch.no_grad`` in strict float32.

Under ``torch.distributed`` each process updates with its own share of the images, and
``compute`` merges the states of every rank of ``process_group`` (FID: ``FeatureStats.all_reduce``;
the others gather the rows, concatenated in rank order), without changing the local states, so
every rank returns the number one process would have computed on all the images. KID's subsets and
the IS splits depend on the order of the rows: give each rank a contiguous share (rank 0 the first
images) to get exactly the single-process number; FID, all-pairs KID, precision/recall and
density/coverage do not depend on the order. Every rank must call ``compute`` (it is a collective).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from fastgen.metrics._pairwise import check_count
from fastgen.metrics.extract import get_extractor, strict_float32
from fastgen.metrics.fid import frechet_distance
from fastgen.metrics.images import float_to_uint8
from fastgen.metrics.inception import FIDInceptionV3
from fastgen.metrics.inception_score import inception_score
from fastgen.metrics.kid import kid
from fastgen.metrics.prc import DENSITY_COVERAGE_K, PRECISION_RECALL_K, neighbourhood_metrics
from fastgen.metrics.preprocess import DEFAULT_PROTOCOL, get_protocol
from fastgen.metrics.stats import FeatureStats

SIDES = ("real", "fake")


class ImageMetric:
    """What the metric objects share: the extractor, checking and embedding images, devices, ranks.

    Args:
        extractor: ``"inception"`` (:class:`FIDInceptionV3` with the FID weights, found as
            :func:`~fastgen.metrics.extract.get_extractor` finds them; ``dims`` and ``weights`` go to
            it), ``"digits"`` (the embedded MNIST network), or an ``nn.Module`` whose
            ``forward(uint8 [N, C, H, W])`` returns ``(features [N, d], logits [N, classes])`` or one
            ``[N, d]`` tensor (used as features, and as logits by ``InceptionScore``).
        protocol: the Inception network's preprocessing (``"pytorch-fid"``, ``"torch-fidelity"``,
            ``"clean-fid"``, see :mod:`fastgen.metrics.preprocess`). Other extractors have one
            preprocessing of their own; for them any protocol but the default is refused.
        dims, weights: for ``extractor="inception"`` (feature layer, weight file).
        normalize: images are float in [0, 1] (else they must be uint8).
        reset_real_features: whether ``reset()`` also forgets the real side (torchmetrics' flag).
        device: where the extractor runs and the states live (default: where the extractor's
            parameters are, the CPU for a named extractor).
        process_group: the torch.distributed group ``compute`` merges over (default: the world).
        sync_on_compute: merge the ranks' states at ``compute`` (torchmetrics' flag).
    """

    def __init__(
        self,
        extractor: str | nn.Module = "inception",
        protocol: str = DEFAULT_PROTOCOL,
        *,
        dims: int | None = None,
        weights=None,
        normalize: bool = False,
        reset_real_features: bool = True,
        device: torch.device | str | None = None,
        process_group=None,
        sync_on_compute: bool = True,
    ):
        for name, flag in (
            ("normalize", normalize),
            ("reset_real_features", reset_real_features),
            ("sync_on_compute", sync_on_compute),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if isinstance(extractor, nn.Module):
            if dims is not None or weights is not None:
                raise ValueError("dims and weights apply to extractor='inception' (a module comes with its own)")
            if device is not None:
                extractor.to(device)
        elif isinstance(extractor, str):
            extractor = get_extractor(extractor, dims=dims, weights=weights, device=device)
        else:
            raise TypeError(f"extractor must be 'inception', 'digits' or an nn.Module, got {type(extractor).__name__}")
        if isinstance(extractor, FIDInceptionV3):
            self.protocol = get_protocol(protocol)
        elif protocol != DEFAULT_PROTOCOL:
            raise ValueError(
                f"protocol {protocol!r} applies to the Inception extractor; {type(extractor).__name__} has "
                "its own preprocessing (leave protocol at its default)"
            )
        else:
            self.protocol = None
        self.extractor = extractor.eval()
        self.normalize = normalize
        self.reset_real_features = reset_real_features
        self.process_group = process_group
        self.sync_on_compute = sync_on_compute
        # the named extractors take gray or RGB; a module of the user's gets any channel count
        self._channels = (1, 3) if isinstance(extractor, FIDInceptionV3) or hasattr(extractor, "preprocess") else None

    @property
    def device(self) -> torch.device:
        parameter = next(self.extractor.parameters(), None)
        return torch.device("cpu") if parameter is None else parameter.device

    # -- images -> features ----------------------------------------------------------------------

    def _check_images(self, images) -> torch.Tensor:
        """uint8 [N, C, H, W] from ``images``, or a one-line TypeError/ValueError naming ``images``."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor [N, C, H, W], got {type(images).__name__}")
        if images.dim() != 4:
            raise ValueError(f"images must be [N, C, H, W], got shape {list(images.shape)}")
        if self._channels is not None and images.shape[1] not in self._channels:
            raise ValueError(f"images must have 1 or 3 channels ([N, C, H, W]), got shape {list(images.shape)}")
        if images.dtype == torch.uint8:
            return images
        if images.is_floating_point():
            if not self.normalize:
                raise TypeError(
                    f"images are {images.dtype}: pass uint8 in [0, 255], or float in [0, 1] with normalize=True"
                )
            return float_to_uint8(images)
        raise TypeError(f"images must be uint8 (or float in [0, 1] with normalize=True), got {images.dtype}")

    def _embed(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N, d], logits [N, classes]) of a batch of images, on ``self.device``."""
        images = self._check_images(images).to(self.device)
        with torch.no_grad(), strict_float32():
            if self.protocol is not None:
                output = self.extractor.embed(self.protocol.network_input(images))
            else:
                output = self.extractor(images)
        features, logits = output[:2] if isinstance(output, (tuple, list)) else (output, output)
        if features.dim() != 2 or features.shape[0] != images.shape[0]:
            raise ValueError(f"the extractor must return [N, d] features, got shape {list(features.shape)}")
        return features.float(), logits.float()

    @staticmethod
    def _check_real(real) -> str:
        if not isinstance(real, bool):
            raise TypeError(f"real must be True or False, got {real!r}")
        return "real" if real else "fake"

    # -- distributed -----------------------------------------------------------------------------

    def _distributed(self) -> bool:
        import torch.distributed as dist

        return (
            self.sync_on_compute
            and dist.is_available()
            and dist.is_initialized()
            and dist.get_world_size(self.process_group) > 1
        )

    def _gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Every rank's ``rows`` [n_r, d] concatenated in rank order (``rows`` when not distributed)."""
        if not self._distributed():
            return rows
        import torch.distributed as dist

        group = self.process_group
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend(group) == "nccl" else "cpu"
        world = dist.get_world_size(group)
        shape = torch.tensor(rows.shape, dtype=torch.int64, device=device)
        shapes = [torch.empty_like(shape) for _ in range(world)]
        dist.all_gather(shapes, shape, group=group)
        counts = [int(s[0]) for s in shapes]
        width = max(int(s[1]) for s in shapes)  # a rank without rows has shape [0, 0]
        padded = torch.zeros(max(counts), width, dtype=torch.float32, device=device)
        padded[: rows.shape[0]] = rows.to(device)
        gathered = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(gathered, padded, group=group)
        return torch.cat([g[:n] for g, n in zip(gathered, counts, strict=True)]).to(self.device)

    # -- state -----------------------------------------------------------------------------------

    def to(self, device: torch.device | str):
        """Move the extractor and the states to ``device``. Returns self."""
        self.extractor.to(device)
        self.load_state_dict({name: value.to(device) for name, value in self.state_dict().items()})
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The accumulated states (not the extractor's weights), as tensors."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        protocol = "" if self.protocol is None else f", protocol={self.protocol.name!r}"
        return f"{type(self).__name__}(extractor={type(self.extractor).__name__}{protocol})"


class _FeatureRows(ImageMetric):
    """A metric on the feature rows of the real and the fake images (KID, PrecisionRecall)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rows: dict[str, list[torch.Tensor]] = {side: [] for side in SIDES}

    def update(self, images, real: bool) -> None:
        """Add a batch of images (uint8 [N, C, H, W], or float in [0, 1] with normalize=True)."""
        side = self._check_real(real)
        self._rows[side].append(self._embed(images)[0])

    def update_features(self, features: torch.Tensor, real: bool) -> None:
        """Add feature rows [N, d] computed elsewhere (by the same extractor and protocol)."""
        side = self._check_real(real)
        if not isinstance(features, torch.Tensor) or features.dim() != 2 or not features.is_floating_point():
            shape = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"features must be a float [N, d] tensor, got {shape}")
        self._rows[side].append(features.detach().float().to(self.device))

    def features(self, side: str) -> torch.Tensor:
        """The rows of ``side`` ("real" or "fake") over all ranks, [N, d]."""
        rows = self._rows[side]
        local = torch.cat(rows) if rows else torch.zeros(0, 0, device=self.device)
        return self._gather_rows(local)

    def reset(self) -> None:
        """Forget the fake rows, and the real ones too when ``reset_real_features``."""
        self._rows["fake"] = []
        if self.reset_real_features:
            self._rows["real"] = []

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{side}_features": torch.cat(rows) for side, rows in self._rows.items() if rows}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._rows = {side: [state[f"{side}_features"]] if f"{side}_features" in state else [] for side in SIDES}


class FID(ImageMetric):
    """Fréchet Inception Distance between the real and the fake images; ``compute()`` is a float.

    ``method`` goes to :func:`~fastgen.metrics.fid.frechet_distance`; the other arguments are
    :class:`ImageMetric`'s.
    """

    def __init__(
        self,
        extractor: str | nn.Module = "inception",
        protocol: str = DEFAULT_PROTOCOL,
        *,
        method: str = "auto",
        **kwargs,
    ):
        super().__init__(extractor, protocol, **kwargs)
        self.method = method
        self._stats: dict[str, FeatureStats | None] = {side: None for side in SIDES}

    def update(self, images, real: bool) -> None:
        """Add a batch of images (uint8 [N, C, H, W], or float in [0, 1] with normalize=True)."""
        self._check_real(real)
        self.update_features(self._embed(images)[0], real)

    def update_features(self, features: torch.Tensor, real: bool) -> None:
        """Add feature rows [N, d] computed elsewhere (by the same extractor and protocol)."""
        side = self._check_real(real)
        if not isinstance(features, torch.Tensor) or features.dim() != 2:
            shape = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"features must be a float [N, d] tensor, got {shape}")
        if self._stats[side] is None:
            self._stats[side] = FeatureStats(features.shape[1])
        self._stats[side].update(features.detach())

    def stats(self, side: str) -> FeatureStats:
        """The statistics of ``side`` ("real" or "fake") over all ranks (a copy when merged)."""
        stats = self._stats[side]
        if self._distributed():
            import torch.distributed as dist

            # every rank must agree on d; a rank that saw no images learns it from the others
            dim = torch.tensor([0 if stats is None else stats.dim])
            if dist.get_backend(self.process_group) == "nccl":
                dim = dim.cuda()
            dist.all_reduce(dim, op=dist.ReduceOp.MAX, group=self.process_group)
            stats = FeatureStats(int(dim)) if stats is None else copy.deepcopy(stats)
            stats.all_reduce(self.process_group)
        if stats is None or stats.count < 2:
            count = 0 if stats is None else stats.count
            flag = side == "real"
            raise ValueError(f"FID needs at least 2 {side} images, got {count} (update(images, real={flag}))")
        return stats

    def compute(self) -> float:
        """FID between the real and fake images seen so far (by every rank)."""
        real, fake = self.stats("real"), self.stats("fake")
        return float(frechet_distance(real.mean, real.cov, fake.mean, fake.cov, method=self.method))

    def reset(self) -> None:
        """Forget the fake statistics, and the real ones too when ``reset_real_features``."""
        self._stats["fake"] = None
        if self.reset_real_features:
            self._stats["real"] = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for side, stats in self._stats.items():
            if stats is not None and stats.count:
                state[f"{side}_count"] = torch.tensor(stats.count)
                state[f"{side}_shift"], state[f"{side}_sum"], state[f"{side}_gram"] = (
                    stats._shift,
                    stats._sum,
                    stats._gram,
                )
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for side in SIDES:
            if f"{side}_count" not in state:
                self._stats[side] = None
                continue
            shift = state[f"{side}_shift"]
            stats = FeatureStats(shift.shape[-1])
            stats.count, stats.batch_shape = int(state[f"{side}_count"]), tuple(shift.shape[:-1])
            stats._shift, stats._sum, stats._gram = shift, state[f"{side}_sum"], state[f"{side}_gram"]
            self._stats[side] = stats


class KID(_FeatureRows):
    """Kernel Inception Distance; ``compute()`` is (mean, std) of :func:`~fastgen.metrics.kid.kid`.

    ``subsets``, ``subset_size``, ``seed``, ``degree``, ``gamma``, ``coef`` are ``kid``'s
    (``subsets=0``: the exact all-pairs estimate); the other arguments are :class:`ImageMetric`'s.
    """

    def __init__(
        self,
        extractor: str | nn.Module = "inception",
        protocol: str = DEFAULT_PROTOCOL,
        *,
        subsets: int = 100,
        subset_size: int = 1000,
        seed: int = 0,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        **kwargs,
    ):
        check_count("subsets", subsets, 0)
        if subsets:
            check_count("subset_size", subset_size, 2)
        super().__init__(extractor, protocol, **kwargs)
        self.options = dict(subsets=subsets, subset_size=subset_size, seed=seed, degree=degree, gamma=gamma, coef=coef)

    def compute(self) -> tuple[float, float]:
        """(mean, std) of KID between the real and fake images seen so far (by every rank)."""
        return kid(self.features("real"), self.features("fake"), **self.options)


class PrecisionRecall(_FeatureRows):
    """Precision and recall (k = ``k``), density and coverage (k = ``density_k``; None skips them).

    ``compute()`` is a dict: ``precision``, ``recall``, ``f_score`` and, unless ``density_k`` is
    None, ``density`` and ``coverage`` (see :mod:`fastgen.metrics.prc`); all from one pass over
    the distances.
    """

    def __init__(
        self,
        extractor: str | nn.Module = "inception",
        protocol: str = DEFAULT_PROTOCOL,
        *,
        k: int = PRECISION_RECALL_K,
        density_k: int | None = DENSITY_COVERAGE_K,
        **kwargs,
    ):
        check_count("k", k, 1)
        if density_k is not None:
            check_count("density_k", density_k, 1)
        super().__init__(extractor, protocol, **kwargs)
        self.k, self.density_k = k, density_k

    def compute(self) -> dict[str, float]:
        """The metrics of the fake images against the real ones seen so far (by every rank)."""
        return neighbourhood_metrics(
            self.features("real"),
            self.features("fake"),
            precision_recall_k=self.k,
            density_coverage_k=self.density_k,
        )


class InceptionScore(ImageMetric):
    """Inception Score of the images; ``compute()`` is (mean, std) over ``splits``.

    ``splits``, ``shuffle`` and ``seed`` are :func:`~fastgen.metrics.inception_score.inception_score`'s
    (shuffled by ``numpy.random.RandomState(seed)``, as torch-fidelity does; its default seed is
    ``TORCH_FIDELITY_SEED`` = 2020). ``update(images)`` takes no ``real``.
    """

    def __init__(
        self,
        extractor: str | nn.Module = "inception",
        protocol: str = DEFAULT_PROTOCOL,
        *,
        splits: int = 10,
        shuffle: bool = True,
        seed: int = 0,
        **kwargs,
    ):
        check_count("splits", splits, 1)
        super().__init__(extractor, protocol, **kwargs)
        self.splits, self.shuffle, self.seed = splits, shuffle, seed
        self._logits: list[torch.Tensor] = []

    def update(self, images) -> None:
        """Add a batch of images (uint8 [N, C, H, W], or float in [0, 1] with normalize=True)."""
        self._logits.append(self._embed(images)[1])

    def logits(self) -> torch.Tensor:
        """The logits of every image over all ranks, [N, classes]."""
        local = torch.cat(self._logits) if self._logits else torch.zeros(0, 0, device=self.device)
        return self._gather_rows(local)

    def compute(self) -> tuple[float, float]:
        logits = self.logits()
        if logits.shape[0] < self.splits:
            raise ValueError(f"InceptionScore needs at least splits = {self.splits} images, got {logits.shape[0]}")
        return inception_score(logits, self.splits, from_logits=True, shuffle=self.shuffle, seed=self.seed)

    def reset(self) -> None:
        self._logits = []

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"logits": torch.cat(self._logits)} if self._logits else {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._logits = [state["logits"]] if "logits" in state else []


__all__ = ["FID", "KID", "ImageMetric", "InceptionScore", "PrecisionRecall"]
