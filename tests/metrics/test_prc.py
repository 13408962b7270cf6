"""precision_recall against torch-fidelity's PRC on the same features; density_coverage against a
direct O(N²) implementation of Naeem et al.'s definitions (full distance matrices by torch.cdist).

Features are float64, so that distances computed by GEMM here and by torch.cdist in the references
agree to ~1e-15 relative and no comparison with a radius flips (the features are continuous random
numbers: no exact ties). The fractions are then equal exactly; torch-fidelity returns its means
from float32 (``.float().mean()``), hence 1e-7 on its numbers.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from fastgen.metrics import _pairwise, density_coverage, neighbourhood_metrics, precision_recall

kid_module = importlib.import_module("fastgen.metrics.kid")


def features(n: int, d: int = 8, seed: int = 0, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


@pytest.fixture(params=["default", "small"])
def panels(request, monkeypatch):
    """Default panels, and panels of a few rows so that the radii cross many panel boundaries."""
    if request.param == "small":
        monkeypatch.setattr(kid_module, "SYMMETRIC_PANEL_ROWS", 7)
        monkeypatch.setattr(_pairwise, "MIN_PANEL_ROWS", 5)
        monkeypatch.setattr(_pairwise, "PANEL_ELEMENTS", 11 * 50)
    return request.param


def direct_density_coverage(real, fake, k):
    """Naeem et al. (2020), written from the definitions with full distance matrices."""
    real_radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values  # k + 1: the sample itself is at 0
    distances = torch.cdist(real, fake)  # [N, M]
    density = (distances <= real_radii[:, None]).sum().item() / (k * len(fake))
    coverage = (distances.min(dim=1).values <= real_radii).double().mean().item()
    return density, coverage


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize(("n_real", "n_fake"), [(150, 130), (97, 160)])
def test_precision_recall_equal_torch_fidelity(panels, k, n_real, n_fake):
    from torch_fidelity.metric_prc import prc_features_to_metric

    real, fake = features(n_real), features(n_fake, seed=1, shift=0.6)
    expected = prc_features_to_metric(
        fake, real, prc_neighborhood=k, prc_batch_size=10000, save_cpu_ram=False, verbose=False
    )
    result = precision_recall(real, fake, k=k)
    assert set(result) == {"precision", "recall", "f_score"}
    for key in result:
        assert result[key] == pytest.approx(expected[key], abs=1e-7)
    assert 0 < result["precision"] < 1 and 0 < result["recall"] < 1  # the test discriminates


@pytest.mark.parametrize("k", [1, 5])
def test_density_coverage_equal_the_definition(panels, k):
    real, fake = features(140, seed=2), features(120, seed=3, scale=0.9, shift=0.3)
    expected = direct_density_coverage(real, fake, k)
    result = density_coverage(real, fake, k=k)
    assert (result["density"], result["coverage"]) == pytest.approx(expected, rel=1e-12)
    assert 0 < result["coverage"] < 1


def test_one_pass_gives_what_the_two_functions_give(panels):
    real, fake = features(100, seed=4), features(90, seed=5, scale=1.2)
    both = neighbourhood_metrics(real, fake, precision_recall_k=2, density_coverage_k=4)
    assert both == {**precision_recall(real, fake, k=2), **density_coverage(real, fake, k=4)}


def test_float32_features_match_float64_on_well_separated_data():
    real, fake = features(120, seed=6), features(110, seed=7, scale=1.5)
    assert neighbourhood_metrics(real.float(), fake.float()) == neighbourhood_metrics(real, fake)


def test_known_values():
    real = features(60, seed=8)
    same = neighbourhood_metrics(real, real.clone())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] >= 1.0  # each sample lies in its own ball and its k neighbours' (at least)
    far = neighbourhood_metrics(real, real + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0, "f_score": 0.0, "density": 0.0, "coverage": 0.0}


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r, f: precision_recall(r, f[:, :3]), ValueError, "same feature size d, got 8 and 3"),
        (lambda r, f: precision_recall(r, f[:3]), ValueError, "fake has 3 samples; a k = 3 neighbourhood"),
        (lambda r, f: density_coverage(r[:5], f), ValueError, "real has 5 samples; a k = 5 neighbourhood"),
        (lambda r, f: density_coverage(r, f[:0]), ValueError, "fake has 0 samples"),
        (lambda r, f: precision_recall(r.long(), f), TypeError, "real must have a floating dtype"),
        (lambda r, f: precision_recall(r, f.reshape(-1)), ValueError, r"fake must be an \[N, d\]"),
        (lambda r, f: precision_recall(r, f * torch.nan), ValueError, "fake contains NaN or Inf in 20 rows"),
        (lambda r, f: precision_recall(r, f, k=0), ValueError, "k must be an int >= 1"),
        (
            lambda r, f: neighbourhood_metrics(r, f, precision_recall_k=None, density_coverage_k=None),
            ValueError,
            "both be None",
        ),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    real, fake = features(20), features(20, seed=1)
    with pytest.raises(error, match=match):
        call(real, fake)
