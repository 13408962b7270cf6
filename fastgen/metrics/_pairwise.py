"""What the sample-based metrics (KID, precision/recall, density/coverage) share: checking two feature
matrices, and walking the rows of a pairwise matrix in panels so that memory stays bounded.

The metrics never hold an N × M matrix: they take a panel of rows ``[B, M]`` at a time (B from
:func:`panel_rows`) and reduce it before the next one.
"""

from __future__ import annotations

import numpy as np
import torch

from fastgen.metrics._inputs import floating_tensor

# Entries of one pairwise panel: 64 MiB of float32, so that a 50k × 50k computation stays far below
# 2 GiB. And at most 512 rows: each panel's GEMM still runs at the BLAS's full speed (512 rows against
# thousands of columns), the passes after it over a panel of a few MB stay in cache, and the diagonal
# block of a symmetric matrix's panel, computed whole, wastes only its upper half (B²/2 entries per
# panel: about 5 % at N = 10,000).
PANEL_ELEMENTS = 1 << 24
MAX_PANEL_ROWS = 512
MIN_PANEL_ROWS = 64


def feature_matrix(name: str, value) -> torch.Tensor:
    """``value`` as an [N, d] floating tensor, or a one-line TypeError/ValueError naming ``name``."""
    value = floating_tensor(name, value, " of features")
    if value.dim() != 2 or value.shape[1] < 1:
        raise ValueError(f"{name} must be an [N, d] feature matrix with d >= 1, got shape {tuple(value.shape)}")
    # a sum is NaN or Inf when an entry is (one pass, no mask); it can also overflow, so confirm
    if not bool(torch.isfinite(value.sum())) and not bool(torch.isfinite(value).all()):
        rows = (~torch.isfinite(value)).any(dim=1).nonzero().flatten().tolist()
        more = " ..." if len(rows) > 10 else ""
        raise ValueError(f"{name} contains NaN or Inf in {len(rows)} rows: {rows[:10]}{more}")
    return value


def feature_pair(real, fake) -> tuple[torch.Tensor, torch.Tensor]:
    """Both matrices checked, on one device, in their compute dtype: float64 if either is float64,
    else float32 (the references compute in the features' float32)."""
    real, fake = feature_matrix("real", real), feature_matrix("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake must have the same feature size d, got {real.shape[1]} and {fake.shape[1]} "
            "(features of different extractors or layers?)"
        )
    if real.device != fake.device:
        raise ValueError(f"real and fake must be on one device, got {real.device} and {fake.device}")
    dtype = torch.float64 if torch.float64 in (real.dtype, fake.dtype) else torch.float32
    return real.to(dtype), fake.to(dtype)


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def panel_rows(columns: int) -> int:
    """Rows of a panel ``columns`` wide: at most :data:`PANEL_ELEMENTS` entries and :data:`MAX_PANEL_ROWS`
    rows, at least :data:`MIN_PANEL_ROWS`."""
    return max(MIN_PANEL_ROWS, min(MAX_PANEL_ROWS, PANEL_ELEMENTS // max(columns, 1)))


def panels(rows: int, columns: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering ``rows``, in panels of :func:`panel_rows` rows."""
    size = panel_rows(columns)
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]
