"""Generic energy networks."""

from energyflow.models.mlp import MLPEnergy, MLPEnergySpec

__all__ = ["MLPEnergy", "MLPEnergySpec"]
