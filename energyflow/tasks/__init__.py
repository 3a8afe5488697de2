"""Tasks: what a run does with its built parts, the context they receive, and their pictures.

The core's own tasks are ``generate`` and ``sample`` (2-D densities and any energy),
``compose`` (concept expressions over named energies) and ``ais`` (test log-likelihood bounds by
annealed importance sampling); image tasks live in the vision plugin. Every task's pictures come
from the shared helpers here: titled, labelled tables of images enlarged to a readable size
(`image_tables`) and plots with plain axis labels (`plots`).
"""

from energyflow.errors import RunError
from energyflow.tasks.base import Task
from energyflow.tasks.context import ChainInit, TaskContext
from energyflow.tasks.image_tables import (
    MIN_SIDE,
    image_table,
    save_image_columns,
    save_image_grid,
    save_labelled_rows,
    save_picture,
)
from energyflow.tasks.plots import (
    new_figure,
    save_curves,
    save_figure,
    save_histograms,
    save_panels,
)
from energyflow.tasks.report import TRAIN_METRICS, metrics_table, percent
from energyflow.training.stats import train_metrics

__all__ = [
    "ChainInit", "image_table", "metrics_table", "MIN_SIDE", "new_figure", "percent", "RunError", "save_curves", "save_figure",
    "save_histograms", "save_image_columns", "save_image_grid", "save_labelled_rows", "save_panels", "save_picture",
    "Task", "TaskContext", "train_metrics", "TRAIN_METRICS",
]
