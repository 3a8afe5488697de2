"""Regularizers: loss terms added each step, or transformations applied to the energy once."""

from energyflow.regularizers.base import CDBatch, Regularizer
from energyflow.regularizers.spectral import SpectralNorm
from energyflow.regularizers.terms import GradPenalty, KLTerm, L2Energy

__all__ = ["CDBatch", "GradPenalty", "KLTerm", "L2Energy", "Regularizer", "SpectralNorm"]
