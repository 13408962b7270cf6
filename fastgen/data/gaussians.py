"""The 2-D ring of Gaussians used to study mode collapse, and its two metrics.

The distribution (Metz et al. 2017, "Unrolled Generative Adversarial Networks", ICLR; also
Srivastava et al. 2017, "VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational
Learning", NeurIPS) is an equal-weight mixture of K = 8 isotropic Gaussians with standard
deviation σ = 0.02, centred on a circle of radius r = 2:

    μ_k = r · (cos 2πk/K, sin 2πk/K),   x ~ (1/K) Σ_k N(μ_k, σ² I).

The metrics:

- a sample is **high quality** when it lies within 3σ of the nearest mode centre,
  ‖x − μ_nearest‖ ≤ 3σ = 0.06 (VEEGAN's definition, Sec. 5.1 there);
- a mode is **covered** when the high-quality samples that have it as their nearest centre are
  at least a fifth of its fair share, N / (5K) of N samples: PacGAN's rule (Lin, Khetan, Fanti &
  Oh, "PacGAN: The power of two samples in generative adversarial networks", NeurIPS 2018,
  Sec. 4: a mode is lost when fewer than 20 of 2,500 samples, a fifth of the 100 each of its 25
  modes expects, are registered to it). With 2,500 samples on 8 modes a covered mode holds at
  least 63. VEEGAN counted a mode with a single high-quality sample, which a generator spraying
  points everywhere satisfies by luck; ``min_samples=1`` still gives that count.
  ``high_quality_counts`` gives the per-mode counts behind either number.

A sample from the true distribution is high quality with probability 1 − exp(−9/2) ≈ 0.989
(the squared distance to its own centre, over σ², is χ² with 2 degrees of freedom).
"""

from __future__ import annotations

import math

import torch

from fastgen.data.datasets import DatasetInfo, LabeledDataset

NUM_MODES = 8
RADIUS = 2.0
STD = 0.02
QUALITY_NUM_STD = 3.0
COVERED_SHARE = 0.2  # a covered mode holds at least this fraction of its fair share N / K (PacGAN)
DEFAULT_NUM_SAMPLES = 100_000


def ring_centers(num_modes: int = NUM_MODES, radius: float = RADIUS) -> torch.Tensor:
    """Mode centres μ_k = r (cos 2πk/K, sin 2πk/K), float32 ``[K, 2]``."""
    if num_modes < 1:
        raise ValueError(f"num_modes must be at least 1, got {num_modes}")
    angles = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).to(torch.float32)


def sample_ring(
    num_samples: int,
    *,
    num_modes: int = NUM_MODES,
    radius: float = RADIUS,
    std: float = STD,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw points from the ring: float32 ``[num_samples, 2]`` and their mode indices, int64 ``[num_samples]``.

    Modes are drawn uniformly; the same ``seed`` gives the same points.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be non-negative, got {num_samples}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    generator = torch.Generator().manual_seed(seed)
    modes = torch.randint(num_modes, (num_samples,), generator=generator)
    noise = torch.randn(num_samples, 2, generator=generator)
    return ring_centers(num_modes, radius)[modes] + std * noise, modes


def _check_samples(samples: torch.Tensor) -> torch.Tensor:
    if not isinstance(samples, torch.Tensor):
        raise TypeError(f"samples must be a torch.Tensor, got {type(samples).__name__}")
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape [N, 2], got {list(samples.shape)}")
    if not samples.is_floating_point():
        raise TypeError(f"samples must be floating point, got {samples.dtype}")
    return samples.detach().to(torch.float64)


def nearest_mode(
    samples: torch.Tensor, *, num_modes: int = NUM_MODES, radius: float = RADIUS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest mode centre (int64 ``[N]``) and the distance to it (float64 ``[N]``).

    Non-finite samples (a diverged generator) get distance inf: never high quality.
    """
    points = _check_samples(samples)
    distances = torch.cdist(points, ring_centers(num_modes, radius).to(points.device, torch.float64))
    distances = torch.where(points.isfinite().all(dim=1, keepdim=True), distances, math.inf)
    distance, index = distances.min(dim=1)
    return index, distance


def high_quality_counts(
    samples: torch.Tensor,
    *,
    num_modes: int = NUM_MODES,
    radius: float = RADIUS,
    std: float = STD,
    num_std: float = QUALITY_NUM_STD,
) -> torch.Tensor:
    """Number of high-quality samples (within ``num_std``·σ of their nearest centre) per mode, int64 ``[K]``."""
    index, distance = nearest_mode(samples, num_modes=num_modes, radius=radius)
    good = distance <= num_std * std
    return torch.bincount(index[good].cpu(), minlength=num_modes)


def high_quality_fraction(
    samples: torch.Tensor,
    *,
    num_modes: int = NUM_MODES,
    radius: float = RADIUS,
    std: float = STD,
    num_std: float = QUALITY_NUM_STD,
) -> float:
    """Fraction of samples within ``num_std``·σ (default 3σ = 0.06) of their nearest mode centre (VEEGAN)."""
    if _check_samples(samples).shape[0] == 0:
        raise ValueError("samples is empty: the fraction of high-quality samples is undefined")
    counts = high_quality_counts(samples, num_modes=num_modes, radius=radius, std=std, num_std=num_std)
    return counts.sum().item() / samples.shape[0]


def modes_covered(
    samples: torch.Tensor,
    *,
    num_modes: int = NUM_MODES,
    radius: float = RADIUS,
    std: float = STD,
    num_std: float = QUALITY_NUM_STD,
    min_samples: float | None = None,
) -> int:
    """Number of modes (of ``num_modes``) that are the nearest centre of ≥ ``min_samples`` high-quality
    samples; ``None`` (default): PacGAN's N / (5 · num_modes) of N samples (module docstring).

    VEEGAN's count is ``min_samples=1``.
    """
    if min_samples is None:
        min_samples = _check_samples(samples).shape[0] * COVERED_SHARE / num_modes
    elif min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, got {min_samples}")
    counts = high_quality_counts(samples, num_modes=num_modes, radius=radius, std=std, num_std=num_std)
    return int((counts >= max(min_samples, 1)).sum())


def load_gaussians(
    *, train: bool = True, num_samples: int | None = None, seed: int = 0
) -> tuple[LabeledDataset, DatasetInfo]:
    """A fixed draw of ``num_samples`` (default 100,000) ring points ``[N, 2]`` with their mode labels.

    The train and test splits of one ``seed`` are different draws (seeds 2·seed and 2·seed + 1).
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    num_samples = DEFAULT_NUM_SAMPLES if num_samples is None else num_samples
    points, modes = sample_ring(num_samples, seed=2 * seed + (0 if train else 1))
    dataset = LabeledDataset(points, modes)
    info = DatasetInfo(
        name="gaussians",
        source=f"ring of {NUM_MODES} Gaussians (radius {RADIUS:g}, std {STD:g}), seed {seed}",
        split="train" if train else "test",
        num_samples=num_samples,
        sample_shape=(2,),
        num_classes=NUM_MODES,
    )
    return dataset, info
