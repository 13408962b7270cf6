"""Metrics for generative models: FID, Inception Score, and the feature extractors they need."""
