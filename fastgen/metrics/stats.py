"""Streaming feature statistics (mean and covariance) for FID, mergeable across batches and ranks.

``FeatureStats`` keeps, per set of features, the count N, a shift c (the mean of the first batch),
s = sum_i (x_i - c) and G = sum_i (x_i - c)(x_i - c)^T in float64, so its memory is O(d^2) whatever
N is, and

    mean = c + s / N,        cov = (G - s s^T / N) / (N - 1)        (unbiased, like np.cov)

(Chan, Golub & LeVeque 1983). Because c is close to the mean, s stays small and the subtraction
does not cancel the digits of features with a large mean. Two statistics with shifts a and b
combine exactly: moving b's sums to shift a adds delta = b - a to every centred row,

    s_b' = s_b + N_b delta,    G_b' = G_b + s_b delta^T + delta s_b^T + N_b delta delta^T.

Precision modes:
- ``"float64"`` (default): each batch is converted to float64 before its Gram product; mean and
  cov equal np.mean / np.cov of all the rows in float64 to about 1e-12 of their largest entry.
- ``"float32"``: each batch's Gram product is computed in float32 (twice the BLAS speed, or
  tensor-core 3xTF32 on GPU) and added to the float64 sums. The error is that of one batch's float32
  product, about sqrt(n_batch) * 6e-8 relative to the largest covariance entry; tested below 1e-5
  of the largest entry for batches up to 4096 rows.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from fastgen._files import atomic_write
from fastgen.ops.covariance import shifted_moments

PRECISIONS = {"float64": torch.float64, "float32": torch.float32}
# what must agree for two sets' statistics to be comparable (see check_comparable)
COMPARED = ("protocol", "extractor", "dims", "weights_sha256")


class ProvenanceWarning(UserWarning):
    """Statistics whose making is unknown (pytorch-fid's plain .npz, a bare feature matrix)."""


def describe_provenance(provenance: dict | None) -> str:
    """``protocol pytorch-fid, inception 2048-d (weights 6726825d), 300 images, fastgen 0.1.0``."""
    if provenance is None:
        return "provenance unknown"
    weights = provenance.get("weights_sha256")
    parts = [
        f"protocol {provenance.get('protocol') or 'none'}",
        f"{provenance.get('extractor') or 'unknown extractor'} {provenance.get('dims')}-d"
        + (f" (weights {weights[:8]})" if weights else ""),
    ]
    if provenance.get("count") is not None:
        parts.append(f"{provenance['count']} samples")
    if provenance.get("fastgen"):
        parts.append(f"fastgen {provenance['fastgen']}")
    return ", ".join(parts)


def _known(provenance: dict | None) -> bool:
    """Whether a provenance says how the features were made (not so for a bare feature matrix's)."""
    return provenance is not None and provenance.get("extractor") is not None


def check_comparable(named: list[tuple[str, FeatureStats]]) -> None:
    """Raise ValueError, naming both, when two of the statistics were made differently (another
    protocol, extractor, dimension or weight file); statistics of unknown making pass (their loading warned)."""
    known = [(name, stats.provenance) for name, stats in named if _known(stats.provenance)]
    for name, provenance in known[1:]:
        first_name, first = known[0]
        differs = [key for key in COMPARED if first.get(key) != provenance.get(key)]
        if differs:
            raise ValueError(
                f"{first_name} ({describe_provenance(first)}) and {name} ({describe_provenance(provenance)}) "
                f"were made differently ({', '.join(differs)}): their distance means nothing"
            )


def _as_tensor(features) -> torch.Tensor:
    if isinstance(features, np.ndarray):
        return torch.from_numpy(features)
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"features must be a torch.Tensor or numpy array, got {type(features).__name__}")
    return features


def _nonfinite_rows_message(x: torch.Tensor) -> str:
    bad = (~torch.isfinite(x)).any(dim=-1)  # [N] or [B, N]
    where = bad.nonzero().tolist()
    shown = ", ".join(str(tuple(i) if len(i) > 1 else i[0]) for i in where[:10])
    more = f" and {len(where) - 10} more" if len(where) > 10 else ""
    index = "(set, row)" if x.dim() == 3 else "row"
    return f"features contain NaN or Inf in {len(where)} rows of this batch, at {index}: {shown}{more}"


class FeatureStats:
    """Mean and covariance of d-dimensional features, accumulated batch by batch.

    Args:
        dim: d, the feature dimension.
        precision: ``"float64"`` (exact, default) or ``"float32"`` (faster Gram products; see the
            module docstring for its error).

    ``update(x)`` takes [N, d] rows of one set, or [B, N, d] for B sets at once (e.g. one per class);
    the first call fixes which. ``mean`` is [d] (or [B, d]) and ``cov`` [d, d] (or [B, d, d]), float64.
    """

    def __init__(self, dim: int, *, precision: str = "float64"):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.dim = dim
        self.precision = precision
        self.count: int | None = 0  # None for statistics loaded from a file without a count
        self.batch_shape: tuple[int, ...] | None = None  # () for one set, (B,) for B sets
        self._shift: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._gram: torch.Tensor | None = None
        self._source: str | None = None  # where count-less statistics came from, for error messages
        # how the features were made: protocol, extractor, dims, weights_sha256, source (None: unknown)
        self.provenance: dict | None = None

    # -- accumulation --------------------------------------------------------------------------

    def update(self, features) -> FeatureStats:
        """Add the rows of ``features`` ([N, d] or [B, N, d], any float dtype). Returns self."""
        x = _as_tensor(features)
        if not x.is_floating_point():
            raise TypeError(f"features must have a floating dtype, got {x.dtype}")
        if x.dim() not in (2, 3):
            raise ValueError(f"features must be [N, d] or [B, N, d], got shape {tuple(x.shape)}")
        if x.shape[-1] != self.dim:
            raise ValueError(f"features must have d = {self.dim} columns (the stats' dim), got shape {tuple(x.shape)}")
        batch_shape = tuple(x.shape[:-2])
        self._require_count("update")
        if self.batch_shape is not None and batch_shape != self.batch_shape:
            raise ValueError(
                f"features must have batch shape {self.batch_shape} like the earlier updates "
                f"(got shape {tuple(x.shape)})"
            )
        if not bool(torch.isfinite(x).all()):
            raise ValueError(_nonfinite_rows_message(x))
        n = x.shape[-2]
        if n == 0:
            return self
        x = x.to(PRECISIONS[self.precision])
        if self._shift is None:
            # rounded to the compute dtype, so that the sums are taken about exactly this shift
            self._start(batch_shape, x.mean(dim=-2).to(torch.float64), x.device)
        sums, gram = shifted_moments(x, self._shift.to(device=x.device, dtype=x.dtype))
        self._sum += sums.to(device=self._sum.device, dtype=torch.float64)
        self._gram += gram.to(device=self._gram.device, dtype=torch.float64)
        self.count += n
        return self

    def _start(self, batch_shape: tuple[int, ...], shift: torch.Tensor, device: torch.device) -> None:
        self.batch_shape = batch_shape
        self._shift = shift.to(device)
        self._sum = torch.zeros(batch_shape + (self.dim,), dtype=torch.float64, device=device)
        self._gram = torch.zeros(batch_shape + (self.dim, self.dim), dtype=torch.float64, device=device)

    def _require_count(self, action: str) -> None:
        if self.count is None:
            raise ValueError(
                f"cannot {action}: these statistics were loaded from {self._source}, which has no sample "
                "count (pytorch-fid's format); they can be used for FID but not updated or merged"
            )

    def _sums_at(self, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s, G) re-centred on ``shift`` (exact algebra, see the module docstring)."""
        delta = (self._shift - shift).unsqueeze(-1)  # [..., d, 1]
        s = self._sum.unsqueeze(-1)
        sums = self._sum + self.count * delta[..., 0]
        cross = s @ delta.transpose(-1, -2)
        gram = self._gram + cross + cross.transpose(-1, -2) + self.count * (delta @ delta.transpose(-1, -2))
        return sums, gram

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Add the rows that ``other`` has seen to self (as if self had been updated with them). Returns self."""
        if not isinstance(other, FeatureStats):
            raise TypeError(f"other must be a FeatureStats, got {type(other).__name__}")
        if other.dim != self.dim:
            raise ValueError(f"other must have dim {self.dim}, got {other.dim}")
        self._require_count("merge")
        other._require_count("merge")
        if other.count == 0:
            return self
        if self.batch_shape is not None and other.batch_shape != self.batch_shape:
            raise ValueError(f"other must have batch shape {self.batch_shape}, got {other.batch_shape}")
        if self.count == 0:
            self._start(other.batch_shape, other._shift.clone(), other._shift.device)
        device = self._shift.device
        moved = other._moved_to(device)
        sums, gram = moved._sums_at(self._shift)
        self._sum += sums
        self._gram += gram
        self.count += other.count
        return self

    def _moved_to(self, device: torch.device) -> FeatureStats:
        moved = FeatureStats(self.dim, precision=self.precision)
        moved.count, moved.batch_shape = self.count, self.batch_shape
        moved._shift, moved._sum, moved._gram = (t.to(device) for t in (self._shift, self._sum, self._gram))
        return moved

    def all_reduce(self, group=None) -> FeatureStats:
        """Combine the statistics of every rank of ``group`` (torch.distributed), in place. Returns self.

        Every rank ends with the statistics of all the rows seen by all ranks. The ranks first agree
        on the global mean, re-centre their sums on it, then sum them: two all_reduce calls of
        O(d^2) float64 values. A rank that saw no rows takes part as one unbatched set, so with
        batched ([B, N, d]) updates every rank must have seen rows.
        """
        from fastgen import distributed

        self._require_count("all_reduce")
        if self._shift is None:
            shape = self.batch_shape or ()
            zeros = torch.zeros(shape + (self.dim,), dtype=torch.float64)
            self._start(shape, zeros, distributed.collective_device(group))
        weighted = torch.cat([self.count * self._mean_raw().reshape(-1), self._sum.new_tensor([self.count])])
        distributed.all_reduce_(weighted, group=group)
        total = int(weighted[-1].item())
        if total == 0:
            return self
        global_mean = (weighted[:-1] / total).reshape(self._shift.shape)
        sums, gram = self._sums_at(global_mean)
        packed = torch.cat([sums.reshape(-1), gram.reshape(-1)])
        distributed.all_reduce_(packed, group=group)
        self._shift = global_mean
        self._sum = packed[: sums.numel()].reshape(sums.shape).clone()
        self._gram = packed[sums.numel() :].reshape(gram.shape).clone()
        self.count = total
        return self

    # -- results ------------------------------------------------------------------------------

    def _mean_raw(self) -> torch.Tensor:
        return self._shift + self._sum / self.count if self.count else torch.zeros_like(self._shift)

    @property
    def mean(self) -> torch.Tensor:
        """[d] (or [B, d]) float64 mean of the rows seen so far."""
        if self._shift is None:
            raise ValueError("mean needs at least one row; call update() first")
        if self.count is None:
            return self._shift
        return self._mean_raw()

    @property
    def cov(self) -> torch.Tensor:
        """[d, d] (or [B, d, d]) float64 unbiased covariance (N - 1 in the denominator, like np.cov)."""
        if self.count is None:
            return self._gram
        if self.count < 2:
            raise ValueError(f"cov needs at least 2 rows per set, got N = {self.count}")
        s = self._sum.unsqueeze(-1)
        cov = (self._gram - (s @ s.transpose(-1, -2)) / self.count) / (self.count - 1)
        return (cov + cov.transpose(-1, -2)) / 2  # exactly symmetric, as eigh-based FID assumes

    def __repr__(self) -> str:
        sets = f", sets={self.batch_shape[0]}" if self.batch_shape else ""
        return f"FeatureStats(dim={self.dim}, count={self.count}{sets}, precision={self.precision!r})"

    # -- files --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write ``mu``, ``sigma`` (pytorch-fid's .npz keys), ``count`` and ``provenance`` (a JSON string:
        :attr:`provenance` with the count and fastgen's version) to ``path`` atomically."""
        from fastgen import __version__

        arrays = {"mu": self.mean.cpu().numpy(), "sigma": self.cov.cpu().numpy()}
        if self.count is not None:
            arrays["count"] = np.int64(self.count)
        provenance = {**dict.fromkeys(COMPARED), **(self.provenance or {})}
        provenance.update(count=self.count, fastgen=__version__)
        arrays["provenance"] = np.array(json.dumps(provenance, sort_keys=True))
        atomic_write(path, lambda file: np.savez(file, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike, dim: int | None = None) -> FeatureStats:
        """Read statistics written by ``save`` or by pytorch-fid (keys ``mu`` [.., d], ``sigma`` [.., d, d]).

        With ``count`` in the file the result can be updated and merged; without it (pytorch-fid's
        files) it serves for FID only. ``dim`` checks the feature dimension when given.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except FileNotFoundError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
            raise ValueError(f"{path} is not a readable .npz statistics file ({error})") from error
        missing = [key for key in ("mu", "sigma") if key not in arrays]
        if missing:
            raise ValueError(f"{path} lacks the key(s) {missing} of a statistics file; it has {sorted(arrays)}")
        mu, sigma = arrays["mu"], arrays["sigma"]
        for key, value in (("mu", mu), ("sigma", sigma)):
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"{path}: {key} must be floating, got {value.dtype}")
        if mu.ndim < 1 or sigma.shape != mu.shape + mu.shape[-1:]:
            raise ValueError(
                f"{path}: expected mu [.., d] and sigma [.., d, d], got mu {mu.shape} and sigma {sigma.shape}"
            )
        if dim is not None and mu.shape[-1] != dim:
            raise ValueError(f"{path} holds statistics of dimension {mu.shape[-1]}, expected dim = {dim}")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise ValueError(f"{path}: mu or sigma contains NaN or Inf")
        stats = cls(mu.shape[-1])
        mu_t, sigma_t = torch.from_numpy(mu.astype(np.float64)), torch.from_numpy(sigma.astype(np.float64))
        stats.batch_shape = tuple(mu.shape[:-1])
        stats._shift = mu_t
        stats._sum = torch.zeros_like(mu_t)
        stats.provenance = _read_provenance(path, arrays)
        if "count" in arrays:
            count = int(arrays["count"])
            if count < 2:
                raise ValueError(f"{path}: count must be >= 2 for a covariance, got {count}")
            stats.count, stats._gram = count, sigma_t * (count - 1)
        else:
            stats.count, stats._gram, stats._source = None, sigma_t, str(path)
        return stats


def _read_provenance(path: Path, arrays: dict) -> dict | None:
    """The ``provenance`` record of a statistics file; None (with a ProvenanceWarning) when it has none."""
    if "provenance" not in arrays:
        warnings.warn(
            f"{path} records no provenance (pytorch-fid's format?): its protocol, extractor and weights are "
            "unknown, so fastgen cannot check that it is comparable",
            ProvenanceWarning,
            stacklevel=3,
        )
        return None
    try:
        provenance = json.loads(str(arrays["provenance"]))
    except (json.JSONDecodeError, ValueError) as error:
        raise ValueError(f"{path}: its provenance record is not JSON ({error})") from None
    if not isinstance(provenance, dict):
        raise ValueError(f"{path}: its provenance record must be a JSON object, got {type(provenance).__name__}")
    if not _known(provenance):
        warnings.warn(
            f"{path} was computed from a bare feature matrix: its extractor and protocol are unknown, so fastgen "
            "cannot check that it is comparable",
            ProvenanceWarning,
            stacklevel=3,
        )
    return provenance
