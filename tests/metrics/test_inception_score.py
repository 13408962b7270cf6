"""inception_score against torch-fidelity and torchmetrics on the same logits/probabilities.

The bar is 1e-5; all three compute in float64 from the same inputs, so agreement is held to 1e-10
relative (mean) and 1e-8 absolute (std, a difference of nearly equal numbers).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgen.metrics import inception_score


def _logits(n=1000, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, classes, generator=g, dtype=torch.float64) * 3


@pytest.mark.parametrize("splits", [1, 10, 7])  # 7 does not divide 1000: torch-fidelity's i*N//splits bounds
def test_matches_torch_fidelity(splits):
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = _logits()
    expected = isc_features_to_metric(logits, splits=splits, shuffle=False)
    mean, std = inception_score(logits, splits)
    assert abs(mean - expected["inception_score_mean"]) <= 1e-10 * expected["inception_score_mean"]
    assert abs(std - expected["inception_score_std"]) <= 1e-8


def test_matches_torchmetrics_with_custom_extractor():
    from torchmetrics.image.inception import InceptionScore

    class Logits(torch.nn.Module):  # the "images" are already logits
        def forward(self, x):
            return x

    logits = _logits(seed=1)
    metric = InceptionScore(feature=Logits(), splits=10)
    metric.update(logits)
    torch.manual_seed(123)
    expected_mean, expected_std = (float(v) for v in metric.compute())
    torch.manual_seed(123)
    order = torch.randperm(len(logits))  # torchmetrics always shuffles with the global generator
    mean, std = inception_score(logits[order], splits=10)
    assert abs(mean - expected_mean) <= 1e-10 * expected_mean
    # torchmetrics takes the unbiased (N - 1) std over splits; ours is torch-fidelity's population std
    assert abs(std * (10 / 9) ** 0.5 - expected_std) <= 1e-8


def test_probabilities_equal_logits_and_are_detected():
    logits = _logits(seed=2)
    probs = torch.softmax(logits, dim=1)
    from_logits = inception_score(logits, 5)
    assert inception_score(probs, 5) == pytest.approx(from_logits, rel=1e-12, abs=1e-12)
    assert inception_score(probs.numpy(), 5, from_logits=False) == pytest.approx(from_logits, rel=1e-12, abs=1e-12)
    # float32 probabilities (rows sum to 1 within float32 rounding) are still detected as probabilities
    assert inception_score(probs.float(), 5)[0] == pytest.approx(from_logits[0], rel=1e-6)


def test_known_values():
    classes = 10
    one_hot = torch.eye(classes).repeat(20, 1)  # confident and uniformly spread: IS = number of classes
    assert inception_score(one_hot, 1)[0] == pytest.approx(classes, rel=1e-12)
    uniform = torch.full((50, classes), 1 / classes)  # no information: IS = 1
    assert inception_score(uniform, 1) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_shuffle_is_seeded_and_matters_for_ordered_samples():
    one_hot = torch.eye(10).repeat_interleave(100, dim=0)  # sorted by class: each split holds one class
    assert inception_score(one_hot, 10)[0] == pytest.approx(1.0)
    shuffled = inception_score(one_hot, 10, shuffle=True, seed=0)
    assert shuffled == inception_score(one_hot, 10, shuffle=True, seed=0)
    assert shuffled[0] > 8.0


def test_bad_inputs():
    with pytest.raises(TypeError, match="torch.Tensor or numpy"):
        inception_score([[0.5, 0.5]])
    with pytest.raises(TypeError, match="floating"):
        inception_score(torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        inception_score(torch.zeros(4))
    with pytest.raises(ValueError, match=r"splits must be an int in \[1, N = 4\]"):
        inception_score(torch.zeros(4, 3), splits=5)
    bad = torch.zeros(6, 3)
    bad[4, 1] = float("nan")
    with pytest.raises(ValueError, match=r"rows \[4\]"):
        inception_score(bad, 2)
    with pytest.raises(ValueError, match="negative entries"):
        inception_score(np.array([[0.5, -0.5], [0.5, 0.5]]), 1, from_logits=False)


def test_shuffled_equals_torch_fidelity_default_isc():
    """torch-fidelity's ISC shuffles by numpy RandomState(2020).permutation before splitting; so do we."""
    from torch_fidelity.metric_isc import isc_features_to_metric

    from fastgen.metrics import TORCH_FIDELITY_SEED

    logits = _logits(n=997, seed=3)  # a prime: unequal splits
    expected = isc_features_to_metric(logits)  # its defaults: splits=10, shuffle=True, rng_seed=2020
    mean, std = inception_score(logits, 10, shuffle=True, seed=TORCH_FIDELITY_SEED)
    assert abs(mean - expected["inception_score_mean"]) <= 1e-10 * expected["inception_score_mean"]
    assert abs(std - expected["inception_score_std"]) <= 1e-8
    assert (mean, std) != inception_score(logits, 10)  # the permutation matters for this test to mean anything
