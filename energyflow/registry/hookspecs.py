"""Every hook a plugin may implement: the plugin API reference.

A plugin is a module (or any object) with functions marked ``@energyflow.hookimpl`` whose names
and argument names match the specs below. A hook implementation may accept fewer arguments than
its spec names. Built-ins are registered through exactly these hooks (see
``energyflow.registry.DEFAULT_PLUGINS``); third-party plugins are found through the ``energyflow``
entry-point group. ``docs/plugins.md`` documents each hook with an example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    import typer

hookspec = pluggy.HookspecMarker("energyflow")
hookimpl = pluggy.HookimplMarker("energyflow")


class RunView(Protocol):
    """What a run-lifecycle hook may use of the run (`energyflow.runtime.Run` provides it)."""

    recipe: Any  #: the validated `energyflow.recipe.Recipe` (``run.recipe.run.tensorboard``, ...)
    out_dir: Path  #: the run folder
    device: torch.device
    extras: dict[str, Any]  #: per-run state of plugins, by a key of the plugin's own

    def log(self, message: str) -> None:
        """Print a line above the progress display (nothing when quiet)."""

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as JSON into the run folder (atomically)."""


class Register(Protocol):
    """The callable handed to every registration hook."""

    def __call__(
        self,
        name: str,
        factory: type,
        *,
        aliases: tuple[str, ...] = (),
        description: str | None = None,
    ) -> None:
        """Register ``factory`` under ``name`` (and each of ``aliases``).

        Args:
            name: the name a recipe's ``kind`` key uses; letters, digits, ``_``, ``-`` and ``.``.
            factory: a spec class whose options are the recipe table's keys: an attrs class
                (help in ``metadata={"help": ...}``), a dataclass, or a plain class with a typed
                ``__init__`` (help from the docstring's ``Args:`` section). Its ``build(ctx)``
                (``ctx`` an `energyflow.BuildContext`) returns the component.
            aliases: other names for the same factory (``sgld`` for ``langevin``).
            description: one line for ``energyflow plugins``; defaults to the first line of the
                factory's docstring.
        """


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


@hookspec
def register_energies(register: Register) -> None:
    """Register energy networks, the ``[energy]`` table's kinds.

    Called once per plugin-manager state, the first time the energy registry is read
    (``energyflow check``, ``run``, ``describe``, ``plugins``), so it should only call ``register``. Return value is ignored. The factory's
    ``build(ctx)`` receives a `energyflow.BuildContext` whose ``data`` is the built
    dataset, and returns an `energyflow.Energy`.
    """


@hookspec
def register_samplers(register: Register) -> None:
    """Register MCMC samplers, the ``[sampler]`` table's kinds.

    Called once per plugin-manager state (again after a plugin is registered or unregistered).
    Return value is ignored. The spec's ``build(ctx)`` returns a sampler: subclass
    `energyflow.Sampler` (a ``steps`` option and ``transition``), which provides
    ``run(energy, x0, *, steps=None, generator=None, callback=None) -> SampleResult`` (final
    positions and statistics) and ``sample(...) -> Tensor``. ``clamp``/``bounds`` options set to
    ``"data"`` become the data's value range.
    """


@hookspec
def register_buffers(register: Register) -> None:
    """Register sample buffers, the ``[buffer]`` table's kinds.

    Called once per plugin-manager state. Return value is ignored. A buffer provides
    ``sample(n, *, labels=None, generator=None, device=None)`` (chain starts),
    ``push(x, labels=None, generator=None)`` (finished chains), ``state_dict()`` and
    ``load_state_dict(state)`` (tensors, dicts, lists, numbers and strings only: checkpoints are
    read with ``weights_only=True``), and a ``uses_labels`` attribute: when true, the trainer and
    tasks pass each batch's labels (class labels, or any context) to ``sample`` and ``push``.
    """


@hookspec
def register_regularizers(register: Register) -> None:
    """Register training regularizers, the kinds of the ``[[regularizers]]`` array of tables.

    Called once per plugin-manager state. Return value is ignored. The spec's ``build(ctx)``
    returns a regularizer (`energyflow.Regularizer` subclasses return themselves), which provides
    ``prepare(energy) -> energy`` (called once, by the trainer, before training) and
    ``loss(batch) -> Tensor | None`` (every step).
    """


@hookspec
def register_objectives(register: Register) -> None:
    """Register training objectives, the ``[objective]`` table's kinds (``cd`` when a recipe has none).

    Called once per plugin-manager state. Return value is ignored. The spec's ``build(ctx)``
    returns an objective (`energyflow.training.Objective` subclasses return themselves; ``ctx.sampler``
    and ``ctx.buffer`` are the run's, for objectives that sample), which provides
    ``loss(energy, x, labels, generator) -> ObjectiveStep`` (the loss, the regularizers' batch and
    the step's numbers) and may provide ``finish``, ``parameters``, ``state_dict`` and
    ``load_state_dict``; the trainer does the rest. Class attributes ``requires`` (tables
    training needs, such as ``("sampler", "buffer")``) and ``negatives`` (whether the batch holds
    model samples) are checked against the recipe when it is loaded.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets, the ``[data]`` table's kinds.

    Called once per plugin-manager state. Return value is ignored. The factory's
    ``build(ctx)`` (with ``ctx.data`` None) returns an `energyflow.TensorData`.
    """


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks, the ``[task]`` table's kinds: what a run does with the built parts.

    Called once per plugin-manager state. Return value is ignored. The spec's ``build(ctx)``
    returns the task (specs usually return themselves), which provides
    ``run(ctx: energyflow.TaskContext) -> dict[str, float]``, the metrics written
    to ``metrics.json``. A class attribute ``requires`` (a tuple of table names such as
    ``("sampler", "buffer")``) makes ``energyflow check`` insist on those tables, and a method
    ``check_recipe(recipe, where)`` checks the rest of the recipe when it is loaded (both are on
    `energyflow.Task`, which task specs may subclass). A class attribute ``metrics`` explains each
    number ``run`` returns (``energyflow describe task NAME`` prints it) and ``summary(metrics,
    out_dir)`` returns the plain sentences a run ends with (saved as ``summary.txt``).
    """


# ---------------------------------------------------------------------------------------------
# Run lifecycle
# ---------------------------------------------------------------------------------------------


@hookspec
def on_run_start(run: RunView) -> None:
    """Called once per run, after every component is built and before the task starts.

    ``run.out_dir`` exists and holds ``recipe.toml``. Return value is ignored. Raising an
    exception aborts the run.
    """


@hookspec
def on_step(run: RunView, step: int, metrics: dict[str, float]) -> None:
    """Called after every training step of a run's training loop (rank 0 only under torchrun).

    ``step`` counts completed steps from 1; ``metrics`` holds the trainer's numbers for that
    step (`energyflow.training.StepStats`: ``loss``, ``e_pos``, ``grad_norm``, the objective's other
    numbers (``e_neg`` and ``gap`` for contrastive divergence) and the sampler's statistics). Return
    value is ignored. Raising ``KeyboardInterrupt`` stops training after a checkpoint is saved,
    so the run can be continued with ``--resume``.
    """


@hookspec
def on_run_end(run: RunView, metrics: dict[str, float]) -> None:
    """Called once per run, after the task returned and ``metrics.json`` was written.

    ``metrics`` is the task's result. Return value is ignored. Not called when the run fails.
    """


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands to the ``energyflow`` command line.

    Called once, when the CLI starts, with the root ``typer.Typer`` app; decorate functions
    with ``@app.command()`` to add them. Return value is ignored.
    """


def hook_names() -> list[str]:
    """Names of all hooks, in the order they are defined here."""
    return [name for name, value in globals().items() if _is_hookspec(value)]


def _is_hookspec(value: Any) -> bool:
    return callable(value) and hasattr(value, "energyflow_spec")
