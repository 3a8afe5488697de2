"""Metrics: grid NLL for low-dimensional energies, AUROC, Frechet distance and MMD."""

from energyflow.metrics.auroc import auroc
from energyflow.metrics.frechet import frechet_distance, frechet_from_stats
from energyflow.metrics.grid_nll import grid_nll
from energyflow.metrics.mmd import mmd

__all__ = ["auroc", "frechet_distance", "frechet_from_stats", "grid_nll", "mmd"]
