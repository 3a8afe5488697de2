"""`Task`: the base of task specs, the last table of a recipe and the part that decides what a run does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    from energyflow.tasks.context import TaskContext


class Task:
    """Base of task specs: ``build(ctx)`` returns the spec itself; ``run(ctx)`` returns the metrics.

    ``requires`` names the recipe tables the task needs (``energyflow check`` insists on them).
    A task spec need not subclass `Task`: any spec with ``run(ctx)`` will do, and the recipe
    loader calls ``check_recipe`` only where a spec has one.
    """

    requires: tuple[str, ...] = ()
    #: every number ``run`` writes to metrics.json -> what it means, in one plain sentence; a family of
    #: names takes ``{PLACEHOLDER}`` parts (``satisfied[{EXPR}]``). Its docs show the same table
    #: (`energyflow.tasks.report.metrics_table`); ``energyflow describe task NAME`` prints it.
    metrics: ClassVar[dict[str, str]] = {}

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """A few plain sentences on what the run found, its headline figures and the pictures to open
        (printed at the end of a run and saved as ``summary.txt``); the default says nothing more."""
        return []

    def build(self, ctx: Any) -> Task:
        return self

    def check_recipe(self, recipe: Any, where: Any) -> None:
        """Check the rest of the recipe when it is loaded (``energyflow check`` runs it too).

        Called once the recipe validates, with the `energyflow.recipe.Recipe` and ``where``,
        which maps a key path to its origin (``where("task.expressions")`` names the file or the
        ``--set`` that gave it). Raise `energyflow.RecipeError` naming ``where(...)``; the
        default checks nothing. The compose task checks that its expressions name concepts.
        """

    def run(self, ctx: TaskContext) -> dict[str, float]:
        raise NotImplementedError
