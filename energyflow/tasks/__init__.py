"""Tasks: what a run does with its built parts, the context they receive, and their pictures.

The core's own tasks are ``generate`` and ``sample`` (2-D densities and any energy),
``compose`` (concept expressions over named energies) and ``ais`` (test log-likelihood bounds by
annealed importance sampling); image tasks live in the vision plugin.
"""

from energyflow.errors import RunError
from energyflow.tasks.base import Task
from energyflow.tasks.context import ChainInit, TaskContext
from energyflow.training.stats import train_metrics

__all__ = ["ChainInit", "RunError", "Task", "TaskContext", "train_metrics"]
