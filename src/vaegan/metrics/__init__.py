"""Metrics of a trained model: distances between sample and data distributions, reconstruction."""

from vaegan.metrics.distribution import distribution_distances, extract_features
from vaegan.metrics.recon import reconstruction_metrics

__all__ = ["distribution_distances", "extract_features", "reconstruction_metrics"]
