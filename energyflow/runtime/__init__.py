"""A run: the `Run` facade, its folder, training loop, checkpoints, stop signals and torchrun processes.

``energyflow run RECIPE`` is ``Run(load_recipe(RECIPE)).execute()``: build the parts, hand the
task its context, write ``runs/NAME/`` (``recipe.toml``, ``metrics.json``, ``events.jsonl``,
``checkpoint.pt``, pictures). Named energies train as child runs (`NamedEnergies`).
"""

from energyflow.errors import RunError, RunInterrupted
from energyflow.runtime import checkpoints
from energyflow.runtime.checkpoints import CHECKPOINT, atomic_write
from energyflow.runtime.folder import EVENTS, RUN_FILES
from energyflow.runtime.named import CLASSIFIER, NamedEnergies
from energyflow.runtime.run import Run, run_recipe
from energyflow.runtime.training_loop import TrainingLoop

__all__ = [
    "CHECKPOINT", "CLASSIFIER", "EVENTS", "RUN_FILES", "NamedEnergies", "Run", "RunError", "RunInterrupted",
    "TrainingLoop", "atomic_write", "checkpoints", "run_recipe",
]
