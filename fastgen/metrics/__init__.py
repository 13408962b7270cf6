"""Metrics for generative models: FID, Inception Score, and the feature extractors they need."""

from fastgen.metrics.fid import FIDReference, frechet_distance
from fastgen.metrics.inception_score import inception_score
from fastgen.metrics.stats import FeatureStats

__all__ = ["FIDReference", "FeatureStats", "frechet_distance", "inception_score"]
