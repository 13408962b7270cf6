"""Metrics for generative models: FID, KID, Inception Score, precision/recall, density/coverage, the
feature extractors they need, and metric objects that take images (see docs/metrics.md)."""

from fastgen.metrics.extract import compute_statistics, get_extractor
from fastgen.metrics.fid import FIDReference, frechet_distance
from fastgen.metrics.inception import FIDInceptionV3
from fastgen.metrics.inception_score import TORCH_FIDELITY_SEED, inception_score
from fastgen.metrics.kid import kid
from fastgen.metrics.objects import FID, KID, ImageMetric, InceptionScore, PrecisionRecall
from fastgen.metrics.prc import density_coverage, neighbourhood_metrics, precision_recall
from fastgen.metrics.stats import FeatureStats

__all__ = [
    "FID",
    "KID",
    "TORCH_FIDELITY_SEED",
    "FIDInceptionV3",
    "FIDReference",
    "FeatureStats",
    "ImageMetric",
    "InceptionScore",
    "PrecisionRecall",
    "compute_statistics",
    "density_coverage",
    "frechet_distance",
    "get_extractor",
    "inception_score",
    "kid",
    "neighbourhood_metrics",
    "precision_recall",
]
