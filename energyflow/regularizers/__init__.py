"""Regularizers: loss terms added each step, or transformations applied to the energy once."""

from energyflow.regularizers.base import CDBatch, Regularizer
from energyflow.regularizers.spectral import SpectralNorm
from energyflow.regularizers.terms import (
    EntropyTerm,
    GradPenalty,
    KLTerm,
    L2Energy,
    nearest_neighbour_entropy,
)

__all__ = ["CDBatch", "EntropyTerm", "GradPenalty", "KLTerm", "L2Energy", "Regularizer", "SpectralNorm", "nearest_neighbour_entropy"]
