"""Training objectives, the ``[objective]`` table's kinds: what loss a batch of data becomes.

``cd`` (the default) is contrastive divergence with a sampler and a replay buffer.
"""

from energyflow.training.objectives.base import Objective, ObjectiveStep, data_batch
from energyflow.training.objectives.cd import Contrastive, ContrastiveSpec

__all__ = ["Contrastive", "ContrastiveSpec", "Objective", "ObjectiveStep", "data_batch"]
