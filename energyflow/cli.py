"""The ``energyflow`` command line: run, check, sample, plugins, describe (and plugins' commands).

User mistakes (a bad recipe, a missing checkpoint, a broken plugin) exit with status 1 and a
one-line message; set ``ENERGYFLOW_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from energyflow import registry
from energyflow.errors import PluginError, RecipeError, RunError, suggest
from energyflow.recipe import RunSpec, format_toml, load_recipe, options_of
from energyflow.version import __version__

KIND_NAMES = {
    **{k: k for k in registry.KINDS}, **{plural: k for k, (_, plural) in registry.KINDS.items()}, "data": "dataset",
}
HELP = """Energy-based models trained by contrastive divergence with Langevin sampling.

Write an experiment as a recipe (TOML), check it, run it; see docs/recipes.md."""

SetOption = Annotated[list[str], typer.Option(
    "--set", "-s", metavar="KEY.PATH=VALUE",
    help="Override a recipe key, e.g. --set sampler.step_size=0.1 or --set regularizers[0].weight=0.5. "
         "The value is TOML (bare words are strings); repeat --set for several keys.",
)]
RecipeArgument = Annotated[Path, typer.Argument(help="The recipe file (TOML), e.g. recipes/toy2d.toml.",
                                                metavar="RECIPE", show_default=False)]


def _console() -> Console:
    """A console for this command (made per call, so it sees the current terminal and COLUMNS)."""
    return Console()


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into ``Error: ...`` on stderr and exit status 1."""
    try:
        yield
    except (RecipeError, PluginError, RunError) as e:
        if os.environ.get("ENERGYFLOW_DEBUG"):
            raise
        typer.echo(f"Error: {' '.join(str(e).split())}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as e:  # a RunInterrupted carries 130 (SIGINT) or 143 (SIGTERM)
        typer.echo("Interrupted; continue with --resume.", err=True)
        raise typer.Exit(getattr(e, "exit_code", 130)) from None


def run(
    recipe: RecipeArgument,
    set_: SetOption = [],  # noqa: B006  typer reads the default
    out: Annotated[Path | None, typer.Option(
        "--out", "-o",
        help="Run folder to write; default runs/<run.name>/ (run.name defaults to the recipe's file name).",
    )] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue training from the run folder's checkpoint.pt instead of starting over.",
    )] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an earlier run in the run folder (without it, a folder holding a run is an error).",
    )] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display and no log lines.")] = False,
) -> None:
    """Run a recipe: write runs/NAME/ with recipe.toml, metrics.json, events.jsonl, samples.png, checkpoint.pt."""
    from energyflow.runtime import (
        Run,  # imported when a run starts, so --help stays quick
    )

    with user_errors():
        plan = load_recipe(recipe, set_)
        job = Run(plan, out_dir=out, quiet=quiet, resume=resume, force=force)
        quiet = job.quiet  # under torchrun, ranks other than 0 print nothing
        if not quiet:
            _console().print(f"run [bold]{escape(plan.name)}[/] -> {escape(str(job.out_dir))} "
                          f"(device {job.device}, seed {plan.run.seed})")
        job.execute()  # ends with the run's summary (summary.txt)


def check(
    recipe: RecipeArgument,
    set_: SetOption = [],  # noqa: B006
    show_toml: Annotated[bool, typer.Option(
        "--toml/--no-toml", help="Print the resolved recipe (every option, defaults filled in) instead of the plan table.",
    )] = False,
) -> None:
    """Validate a recipe and print the plan, without building or running anything."""
    with user_errors():
        plan = load_recipe(recipe, set_)
    if show_toml:
        typer.echo(plan.to_toml(), nl=False)
        return
    resolved = plan.to_dict()
    table = Table("table", "kind", "plugin", "options", title_justify="left",
                  title=escape(f"{recipe}: run {plan.name!r}, writes runs/{plan.name}/"))
    table.add_row("run", "", "", _options_text(resolved["run"]))
    for component in plan.components():
        r = component.registration
        table.add_row(escape(component.table), escape(r.name), escape(r.plugin), _options_text(component.options()))
    for key in ("energies", "concepts"):
        for name, options in resolved.get(key, {}).items():
            table.add_row(escape(f"{key}.{name}"), "", "", _options_text(options))
    if "classifier" in resolved:
        table.add_row("classifier", "", "", _options_text(resolved["classifier"]))
    table.add_row("train", "", "", _options_text(resolved["train"]))
    _console().print(table)
    _console().print(f"[green]ok[/]: {escape(str(recipe))} is valid")


def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run folder holding recipe.toml and checkpoint.pt.",
                                            metavar="RUN_DIR", show_default=False)],
    num_samples: Annotated[int, typer.Option("--num-samples", "-n", help="Samples to draw.", min=2)] = 2000,
    chain_steps: Annotated[int, typer.Option("--chain-steps", help="Steps of the chains started from noise.",
                                             min=1)] = 500,
    out: Annotated[Path | None, typer.Option("--out", "-o",
                                                help="Folder to write; default RUN_DIR/sample/.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display and no log lines.")] = False,
) -> None:
    """Draw samples from a trained run's checkpoint with its own recipe (task kind = "sample")."""
    from energyflow.runtime import (
        Run,  # imported when a run starts, so --help stays quick
    )

    checkpoint = json.dumps(str(run_dir / "checkpoint.pt"))
    task = f"task={{ kind = \"sample\", checkpoint = {checkpoint}, num_samples = {num_samples}, " \
           f"chain_steps = {chain_steps} }}"
    with user_errors():
        plan = load_recipe(run_dir / "recipe.toml", [task])
        Run(plan, out_dir=out or run_dir / "sample", quiet=quiet).execute()


def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List installed plugins with their version, origin and what they register (or why they are broken)."""
    with user_errors():
        rows = registry.plugin_infos()
    records = [
        {"name": info.name, "version": info.version, "origin": info.origin, "hooks": hooks,
         "registers": {kind: [r.name for r in regs if r.kind == kind] for kind in registry.KINDS
                       if any(r.kind == kind for r in regs)}, "error": info.error or None}
        for info, regs, hooks in rows
    ]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table("plugin", "version", "origin", "registers", "other hooks")
    for info, regs, hooks in rows:
        registers = "\n".join(
            f"{kind}: " + ", ".join(r.name + (f" ({', '.join(r.aliases)})" if r.aliases else "")
                                    for r in regs if r.kind == kind)
            for kind in registry.KINDS if any(r.kind == kind for r in regs)
        ) if not info.error else f"broken: {info.error}"
        table.add_row(*map(escape, (info.name, info.version, info.origin, registers, ", ".join(hooks))))
    _console().print(table)


def describe(
    kind: Annotated[str | None, typer.Argument(
        help="Component kind: energy, sampler, buffer, regularizer, dataset (or data), task; or run / train for "
             "those tables. Without it, list everything that can be described.", metavar="KIND",
        show_default=False)] = None,
    name: Annotated[str | None, typer.Argument(help="The registered name, e.g. langevin (plugin:name picks "
                                                       "one plugin's).", metavar="NAME", show_default=False)] = None,
) -> None:
    """Show a component's options: type, default and help, as a recipe table would set them."""
    with user_errors():
        if kind is None:
            table = Table("kind", "names", title="energyflow describe KIND NAME", title_justify="left")
            table.add_row("run, train", escape("(the [run] and [train] tables)"))
            for k in registry.KINDS:
                table.add_row(k, escape(", ".join(registry.get_registry(k).names())))
            _console().print(table)
            return
        if kind in ("run", "train"):
            from energyflow.training import TrainSpec

            factory, title = (RunSpec if kind == "run" else TrainSpec), f"[{kind}]"
        else:
            if kind not in KIND_NAMES:
                raise PluginError(f"no component kind {kind!r}{suggest(kind, sorted(KIND_NAMES))}")
            if name is None:
                names = ", ".join(registry.get_registry(KIND_NAMES[kind]).names())
                raise PluginError(f"describe {kind}: which one? known: {names}")
            r = registry.get_registry(KIND_NAMES[kind]).resolve(name)
            aliases = f" (aliases: {', '.join(r.aliases)})" if r.aliases else ""
            factory, title = r.factory, f"{r.kind} {r.name!r}{aliases} from {r.plugin}: {r.description}"
    table = Table("option", "type", "default", "help", title=escape(title), title_justify="left")
    for option in options_of(factory):
        table.add_row(*map(escape, option.row()))
    _console().print(table)
    if explained := getattr(factory, "metrics", None):  # a task: what each number of its metrics.json means
        metrics = Table("metric", "meaning", title="metrics.json", title_justify="left")
        for key, text in explained.items():
            metrics.add_row(escape(key), escape(text))
        _console().print(metrics)


def _options_text(options: dict) -> str:
    return escape(", ".join(f"{key} = {format_toml(value)}" for key, value in options.items()))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"energyflow {__version__}")
        raise typer.Exit()


def _plain_help() -> None:
    """Help that reads as Unix help: ``RECIPE`` in the usage line, no ``<bool>`` on flags.

    typer (0.2x) writes required arguments as ``{RECIPE}`` and a type on every flag; both
    confused users. tests/test_cli.py fails if a typer release renders them again.
    """
    from typer.core import TyperArgument, TyperOption

    if getattr(TyperOption, "_energyflow_plain", False):
        return
    option_type, usage_name = TyperOption.display_type_rich, TyperArgument._usage_display_name

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else option_type(self, ctx)

    def _usage_display_name(self: Any) -> str:
        return usage_name(self).replace("{", "").replace("}", "")

    TyperOption.display_type_rich = display_type_rich
    TyperArgument._usage_display_name = _usage_display_name
    TyperOption._energyflow_plain = True


def make_app(*, with_plugins: bool = True) -> typer.Typer:
    """The CLI app; ``with_plugins`` adds the commands of plugins' ``register_commands``."""
    _plain_help()
    app = typer.Typer(name="energyflow", help=HELP, no_args_is_help=True, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def _root(
        version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_version,
                                              is_eager=True)] = False,
    ) -> None:
        """Energy-based models trained by contrastive divergence with Langevin sampling."""

    app.command("run")(run)
    app.command("check")(check)
    app.command("sample")(sample)
    app.command("plugins")(list_plugins)
    app.command("describe")(describe)
    if with_plugins:
        try:
            registry.get_plugin_manager().hook.register_commands(app=app)
        except PluginError:
            pass  # a broken plugin: --help still works, and any command that needs plugins reports it
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``energyflow`` console script and ``python -m energyflow``."""
    make_app()(args=argv, prog_name="energyflow")
