"""energyflow: energy-based models trained by contrastive divergence with Langevin sampling.

The flat public API::

    import energyflow as ef
    energy = ef.MLPEnergy(2) & ~other          # compose energies
    x = ef.Langevin(steps=60).sample(energy, x0)
    energy = ef.compose.parse("a & ~b", {"a": a, "b": b})   # the same, from text

Everything a user or a plugin imports is here or in a subpackage's ``__init__``
(`energyflow.core`, `energyflow.samplers`, `energyflow.recipe`, `energyflow.registry`,
`energyflow.runtime`, `energyflow.tasks`, ...); nothing deeper is promised. ``docs/plugins.md``
lists the plugin API.
"""

from energyflow import compose
from energyflow.buffers import ReplayBuffer
from energyflow.core import (
    Conditioned,
    Energy,
    FunctionEnergy,
    GaussianEnergy,
    Masked,
    Named,
    Or,
    Scaled,
    Sum,
    UnaryNode,
    energy_and_grad,
    logical_or,
    negate,
)
from energyflow.data import TensorData
from energyflow.errors import (
    CompositionError,
    PluginError,
    RecipeError,
    RunError,
    RunInterrupted,
    UnknownComponentError,
)
from energyflow.models import MLPEnergy
from energyflow.registry import BuildContext, Register, RunView, hookimpl
from energyflow.regularizers import (
    CDBatch,
    EntropyTerm,
    GradPenalty,
    KLTerm,
    L2Energy,
    Regularizer,
    SpectralNorm,
)
from energyflow.samplers import (
    HMC,
    MALA,
    ChainState,
    Langevin,
    Sampler,
    SampleResult,
    bind_labels,
)
from energyflow.tasks import Task, TaskContext, train_metrics
from energyflow.training import (
    ContrastiveDivergence,
    Objective,
    StepStats,
    Trainer,
    TrainSpec,
)
from energyflow.version import __version__

__all__ = [
    "HMC",
    "MALA",
    "BuildContext",
    "CDBatch",
    "ChainState",
    "CompositionError",
    "Conditioned",
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
    "Masked",
    "Named",
    "Objective",
    "Or",
    "PluginError",
    "RecipeError",
    "Register",
    "Regularizer",
    "ReplayBuffer",
    "RunError",
    "RunInterrupted",
    "RunView",
    "SampleResult",
    "Sampler",
    "Scaled",
    "SpectralNorm",
    "StepStats",
    "Sum",
    "Task",
    "TaskContext",
    "TensorData",
    "TrainSpec",
    "Trainer",
    "UnaryNode",
    "UnknownComponentError",
    "__version__",
    "bind_labels",
    "compose",
    "energy_and_grad",
    "hookimpl",
    "logical_or",
    "negate",
    "train_metrics",
]
