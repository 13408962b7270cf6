"""Metrics for generative models: FID, Inception Score, and the feature extractors they need."""

from fastgen.metrics.extract import compute_statistics, get_extractor
from fastgen.metrics.fid import FIDReference, frechet_distance
from fastgen.metrics.inception import FIDInceptionV3
from fastgen.metrics.inception_score import inception_score
from fastgen.metrics.stats import FeatureStats

__all__ = [
    "FIDInceptionV3",
    "FIDReference",
    "FeatureStats",
    "compute_statistics",
    "frechet_distance",
    "get_extractor",
    "inception_score",
]
