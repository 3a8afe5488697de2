"""Datasets: the in-memory `TensorData` form and toy 2-D densities."""

from energyflow.data.dataset import TensorData

__all__ = ["TensorData"]
