"""Training objectives, the ``[objective]`` table's kinds: what loss a batch of data becomes.

``cd`` (the default) is contrastive divergence with a sampler and a replay buffer; ``dsm``
(denoising score matching, one noise level or several), ``ssm`` (sliced score matching) and
``nce`` (noise-contrastive estimation against a Gaussian fitted to the data) need neither.
"""

from energyflow.training.objectives.base import Objective, ObjectiveStep, data_batch
from energyflow.training.objectives.cd import Contrastive, ContrastiveSpec
from energyflow.training.objectives.dsm import (
    DenoisingScoreMatching,
    denoising_score_matching,
    noise_levels,
)
from energyflow.training.objectives.nce import (
    GaussianMixtureNoise,
    GaussianNoise,
    NoiseContrast,
    NoiseContrastiveEstimation,
    nce_loss,
)
from energyflow.training.objectives.ssm import (
    SlicedScoreMatching,
    sliced_score_matching,
)

__all__ = [
    "Contrastive", "ContrastiveSpec", "DenoisingScoreMatching", "GaussianMixtureNoise", "GaussianNoise", "NoiseContrast",
    "NoiseContrastiveEstimation", "Objective", "ObjectiveStep", "SlicedScoreMatching", "data_batch",
    "denoising_score_matching", "nce_loss", "noise_levels", "sliced_score_matching",
]
