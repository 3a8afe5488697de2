"""Datasets: the in-memory `TensorData` form and toy 2-D densities."""

from energyflow.data.dataset import TensorData
from energyflow.data.toy2d import TOY_DENSITIES, Toy2DSpec, sample_toy, toy_log_prob

__all__ = ["TOY_DENSITIES", "TensorData", "Toy2DSpec", "sample_toy", "toy_log_prob"]

