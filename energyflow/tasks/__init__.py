"""Tasks: what a run does with its built parts. The core's own are in `generate` and `sample`."""

from energyflow.tasks.context import RunError, Task, TaskContext, train_metrics

__all__ = ["RunError", "Task", "TaskContext", "train_metrics"]
