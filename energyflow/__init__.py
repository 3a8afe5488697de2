"""energyflow: energy-based models trained by contrastive divergence with Langevin sampling.

The flat public API::

    import energyflow as ef
    energy = ef.MLPEnergy(2) & ~other          # compose energies
    x = ef.Langevin(steps=60).sample(energy, x0)
    energy = ef.compose.parse("a & ~b", {"a": a, "b": b})   # the same, from text
"""

from energyflow import compose
from energyflow.buffers import ReplayBuffer
from energyflow.core import (
    Energy,
    FunctionEnergy,
    GaussianEnergy,
    energy_and_grad,
    logical_or,
    negate,
)
from energyflow.data import TensorData
from energyflow.hookspecs import hookimpl
from energyflow.models import MLPEnergy
from energyflow.regularizers import (
    EntropyTerm,
    GradPenalty,
    KLTerm,
    L2Energy,
    Regularizer,
    SpectralNorm,
)
from energyflow.samplers import HMC, MALA, Langevin, Sampler, SampleResult
from energyflow.tasks import Task, TaskContext
from energyflow.train import ContrastiveDivergence, TrainSpec

__version__ = "0.1.0"

__all__ = [
    "HMC",
    "MALA",
    "ContrastiveDivergence",
    "Energy",
    "EntropyTerm",
    "FunctionEnergy",
    "GaussianEnergy",
    "GradPenalty",
    "KLTerm",
    "L2Energy",
    "Langevin",
    "MLPEnergy",
    "Regularizer",
    "ReplayBuffer",
    "SampleResult",
    "Sampler",
    "SpectralNorm",
    "Task",
    "TaskContext",
    "TensorData",
    "TrainSpec",
    "__version__",
    "compose",
    "energy_and_grad",
    "hookimpl",
    "logical_or",
    "negate",
]
