"""Precision and recall (Kynkäänniemi, Karras, Laine, Lehtinen & Aila, "Improved Precision and Recall
Metric for Assessing Generative Models", NeurIPS 2019), density and coverage (Naeem, Oh, Uh, Choi &
Yoo, "Reliable Fidelity and Diversity Metrics for Generative Models", ICML 2020), on features.

Each real sample x_i is the centre of a ball whose radius r_k(x_i) is the distance to its k-th
nearest neighbour among the other real samples; likewise each generated sample y_j. Then

    precision = (1/M) Σ_j 1[∃ i: |y_j − x_i| ≤ r_k(x_i)]     generated samples inside the real manifold
    recall    = (1/N) Σ_i 1[∃ j: |x_i − y_j| ≤ r_k(y_j)]     real samples inside the generated manifold
    density   = (1/(kM)) Σ_j Σ_i 1[|y_j − x_i| ≤ r_k(x_i)]   how many real balls hold each generated sample
    coverage  = (1/N) Σ_i 1[min_j |x_i − y_j| ≤ r_k(x_i)]    real balls that hold any generated sample

with k = 3 for precision/recall (Kynkäänniemi et al.) and k = 5 for density/coverage (Naeem et
al.), N real and M generated samples. The balls are closed (≤), as in the papers and torch-fidelity
(Naeem et al.'s ``prdc`` package writes <; the two differ only on exact ties of distances).

How it is computed: squared distances |a|² + |b|² − 2 a·b by GEMM, a panel of rows at a time
(:mod:`fastgen.metrics._pairwise`), never an N × M matrix. The radii come from the lower triangle
of each same-set distance matrix: a panel updates the running k + 1 smallest distances of its rows
and, through its transpose, of the columns left of it (the k + 1 smallest include the sample
itself, at distance 0, as in torch-fidelity). One pass over the real × generated distances then
gives all four numbers. The references hold three full N × M matrices (torch-fidelity: 30 GB at
50k + 50k in float32); here memory is the features plus one panel.
"""

from __future__ import annotations

import torch

from fastgen.metrics._pairwise import check_count, feature_pair, panels
from fastgen.metrics.kid import SYMMETRIC_PANEL_ROWS

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5


def precision_recall(real, fake, k: int = PRECISION_RECALL_K) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real``.

    Args:
        real, fake: [N, d] and [M, d] feature matrices of any extractor (torch or numpy, any float
            dtype, one device); computed in float32, or float64 when either is float64.
        k: the neighbourhood size (3, the paper's); both sets need at least k + 1 samples.

    Returns:
        ``{"precision", "recall", "f_score"}`` as Python floats, f_score = 2pr / (p + r) (0 when both
        are 0). Equal to torch-fidelity's ``precision``, ``recall`` and ``f_score`` with
        ``input1`` = fake, ``input2`` = real, ``prc_neighborhood`` = k.
    """
    return neighbourhood_metrics(real, fake, precision_recall_k=k, density_coverage_k=None)


def density_coverage(real, fake, k: int = DENSITY_COVERAGE_K) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020) of ``fake`` against ``real``.

    Args:
        real, fake: [N, d] and [M, d] feature matrices (as for :func:`precision_recall`).
        k: the neighbourhood size (5, the paper's); ``real`` needs at least k + 1 samples.

    Returns:
        ``{"density", "coverage"}`` as Python floats. Density is about 1 when the generated samples
        are distributed like the real ones, and may exceed 1; coverage lies in [0, 1].
    """
    return neighbourhood_metrics(real, fake, precision_recall_k=None, density_coverage_k=k)


def neighbourhood_metrics(
    real,
    fake,
    *,
    precision_recall_k: int | None = PRECISION_RECALL_K,
    density_coverage_k: int | None = DENSITY_COVERAGE_K,
) -> dict[str, float]:
    """Precision, recall and f_score (when ``precision_recall_k`` is given) and density and coverage
    (when ``density_coverage_k`` is given), from one pass over the distances."""
    real, fake = feature_pair(real, fake)
    if precision_recall_k is None and density_coverage_k is None:
        raise ValueError("precision_recall_k and density_coverage_k cannot both be None: nothing to compute")
    real_ks = []
    if precision_recall_k is not None:
        k = check_count("k", precision_recall_k, 1)
        _check_samples(real, fake, k, both=True)
        real_ks.append(k)
    if density_coverage_k is not None:
        k = check_count("k", density_coverage_k, 1)
        _check_samples(real, fake, k, both=False)
        real_ks.append(k)
    real_radii = kth_neighbour_sq_distances(real, real_ks)
    fake_radii = None if precision_recall_k is None else kth_neighbour_sq_distances(fake, [precision_recall_k])[0]

    in_real = torch.zeros(fake.shape[0], dtype=torch.bool, device=fake.device)  # precision
    in_fake = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)  # recall
    real_balls = torch.zeros(fake.shape[0], dtype=torch.int64, device=fake.device)  # density
    covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)  # coverage
    fake_sq = fake.square().sum(1)
    for start, stop in panels(real.shape[0], fake.shape[0]):
        distances = _sq_distances(real[start:stop], fake, fake_sq)
        if precision_recall_k is not None:
            in_real |= (distances <= real_radii[0][start:stop, None]).any(0)
            in_fake[start:stop] = (distances <= fake_radii[None, :]).any(1)
        if density_coverage_k is not None:
            radii = real_radii[-1][start:stop]
            real_balls += (distances <= radii[:, None]).sum(0)
            covered[start:stop] = distances.amin(1) <= radii

    result = {}
    if precision_recall_k is not None:
        precision, recall = in_real.double().mean().item(), in_fake.double().mean().item()
        f_score = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        result.update(precision=precision, recall=recall, f_score=f_score)
    if density_coverage_k is not None:
        result["density"] = real_balls.double().sum().item() / (density_coverage_k * fake.shape[0])
        result["coverage"] = covered.double().mean().item()
    return result


def _check_samples(real: torch.Tensor, fake: torch.Tensor, k: int, both: bool) -> None:
    for name, x in (("real", real), ("fake", fake)) if both else (("real", real),):
        if x.shape[0] < k + 1:
            raise ValueError(f"{name} has {x.shape[0]} samples; a k = {k} neighbourhood needs at least k + 1 = {k + 1}")
    if fake.shape[0] < 1:
        raise ValueError("fake has 0 samples")


def _sq_distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """[len(a), len(b)] squared Euclidean distances |a|² + |b|² − 2 a·b (one GEMM), clamped at 0
    (rounding can make a distance of a sample to itself slightly negative)."""
    distances = torch.addmm(b_sq[None, :], a, b.T, alpha=-2)
    return distances.add_(a.square().sum(1)[:, None]).clamp_min_(0)


def kth_neighbour_sq_distances(x: torch.Tensor, ks: list[int]) -> list[torch.Tensor]:
    """For each k in ``ks``: [N] squared distance of each row of ``x`` to its k-th nearest other row.

    Keeps the K = max(ks) + 1 smallest squared distances of every row (itself included); panel
    [a, b) × [0, b) of the lower triangle updates rows [a, b) and, transposed, columns [0, a).
    """
    n = x.shape[0]
    keep = max(ks) + 1
    best = torch.full((n, keep), torch.inf, dtype=x.dtype, device=x.device)
    sq = x.square().sum(1)
    rows = min(SYMMETRIC_PANEL_ROWS, panels(n, n)[0][1])
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        distances = _sq_distances(x[start:stop], x[:stop], sq[:stop])
        best[start:stop] = _smallest(torch.cat([best[start:stop], distances], dim=1), keep)
        if start:
            column_smallest = torch.topk(distances[:, :start], min(keep, stop - start), dim=0, largest=False).values
            best[:start] = _smallest(torch.cat([best[:start], column_smallest.T], dim=1), keep)
    return [best[:, k] for k in ks]


def _smallest(values: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` smallest entries of each row, ascending."""
    return torch.topk(values, count, dim=1, largest=False, sorted=True).values
