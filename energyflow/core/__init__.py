"""Energy and its algebra: sums, weights (temperatures, NOT), OR, conditioning and masking."""

from energyflow.core.analytic import FunctionEnergy, GaussianEnergy
from energyflow.core.context import Conditioned, Masked, Named
from energyflow.core.energy import Energy, energy_and_grad
from energyflow.core.nodes import Or, Scaled, Sum, UnaryNode, logical_or, negate, scale

__all__ = [
    "Conditioned", "Energy", "FunctionEnergy", "GaussianEnergy", "Masked", "Named", "Or", "Scaled",
    "Sum", "UnaryNode", "energy_and_grad", "logical_or", "negate", "scale",
]
