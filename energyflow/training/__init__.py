"""Training: the trainer (the one place a step is taken), its objectives (the one place a loss is formed),
the ``[train]`` spec and step numbers."""

from energyflow.training.contrastive_divergence import ContrastiveDivergence
from energyflow.training.objectives import Objective, ObjectiveStep
from energyflow.training.spec import TRAINER_OPTIONS, TrainSpec
from energyflow.training.stats import StepStats, divergence, train_metrics
from energyflow.training.trainer import Trainer

__all__ = ["TRAINER_OPTIONS", "ContrastiveDivergence", "Objective", "ObjectiveStep", "StepStats", "TrainSpec",
           "Trainer", "divergence", "train_metrics"]
