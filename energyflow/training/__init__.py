"""Training: the contrastive-divergence update (the one place a loss is formed), its ``[train]`` spec and step numbers."""

from energyflow.training.contrastive_divergence import ContrastiveDivergence
from energyflow.training.spec import TRAINER_OPTIONS, TrainSpec
from energyflow.training.stats import StepStats, divergence, train_metrics

__all__ = ["TRAINER_OPTIONS", "ContrastiveDivergence", "StepStats", "TrainSpec", "divergence", "train_metrics"]
