"""Tasks: what a run does with its built parts, the context they receive, and their pictures.

The core's own tasks are ``generate`` and ``sample`` (2-D densities and any energy) and
``compose`` (concept expressions over named energies); image tasks live in the vision plugin.
"""

from energyflow.errors import RunError
from energyflow.tasks.base import Task
from energyflow.tasks.context import ChainInit, TaskContext
from energyflow.tasks.report import TRAIN_METRICS, percent
from energyflow.training.stats import train_metrics

__all__ = ["TRAIN_METRICS", "ChainInit", "RunError", "Task", "TaskContext", "percent", "train_metrics"]
