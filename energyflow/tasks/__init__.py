"""The core's tasks: what a run does with its built parts."""

from energyflow.tasks.generate import GenerateTask
from energyflow.tasks.sample import SampleTask

__all__ = ["GenerateTask", "SampleTask"]
