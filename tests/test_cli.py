"""The command line through typer's CliRunner: run, check, sample, plugins, describe, plugin commands."""

from __future__ import annotations

import json

import pytest
import tomllib
import typer
from typer.testing import CliRunner

from energyflow import __version__, hookimpl
from energyflow.cli import make_app

pytestmark = pytest.mark.usefixtures("plugin_manager")
WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}


def invoke(*args: str):
    return CliRunner().invoke(make_app(), list(args), env=WIDE)


def test_every_command_argument_and_option_has_help():
    group = typer.main.get_command(make_app())
    assert set(group.commands) >= {"run", "check", "sample", "plugins", "describe"}
    for name, command in group.commands.items():
        assert command.help, f"{name} has no help"
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name} has no help"
    result = invoke("run", "--help")
    assert result.exit_code == 0
    for text in ("--set", "--out", "--resume", "--quiet", "Continue training from the run folder"):
        assert text in result.stdout


@pytest.mark.parametrize("command", ["run", "check", "sample", "describe", "plugins"])
def test_help_reads_as_unix_help(command):
    text = invoke(command, "--help").stdout
    assert "<bool>" not in text and "{" not in text.splitlines()[1]
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    if command in ("run", "check"):
        assert usage.rstrip().endswith("RECIPE")
    assert "<bool>" not in invoke("--help").stdout


def test_version():
    assert invoke("--version").stdout == f"energyflow {__version__}\n"


def test_run_check_and_sample_end_to_end(tiny_recipe, tmp_path):
    out = tmp_path / "run"
    result = invoke("run", str(tiny_recipe), "--out", str(out), "--set", "train.iterations=8")
    assert result.exit_code == 0, result.output
    assert "run tiny" in result.stdout and "nats per point" in result.stdout and "summary" not in result.stdout
    assert json.loads((out / "metrics.json").read_text())["nll"] > 0
    assert "iterations = 8" in (out / "recipe.toml").read_text()

    quiet = invoke("run", str(tiny_recipe), "--out", str(tmp_path / "quiet"), "-q", "-s", "train.iterations=2")
    assert quiet.exit_code == 0 and quiet.output == ""

    resumed = invoke("run", str(out / "recipe.toml"), "--out", str(out), "--resume", "--set", "train.iterations=12")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming 'tiny' from step 8" in resumed.stdout

    sampled = invoke("sample", str(out), "-n", "32", "--chain-steps", "5", "-q")
    assert sampled.exit_code == 0, sampled.output
    assert (out / "sample" / "samples.png").exists()

    checked = invoke("check", str(tiny_recipe), "--set", 'sampler={ kind = "mala", steps = 3 }')
    assert checked.exit_code == 0 and "ok: " in checked.stdout and "mala" in checked.stdout
    resolved = invoke("check", str(tiny_recipe), "--toml")
    assert tomllib.loads(resolved.stdout)["run"]["name"] == "tiny"


@pytest.mark.parametrize(("args", "message"), [
    (["check", "nowhere.toml"], "Error: recipe file not found: nowhere.toml\n"),
    (["run", "nowhere.toml"], "Error: recipe file not found: nowhere.toml\n"),
    (["describe", "sampler", "langevn"],
     "Error: no sampler named 'langevn'; did you mean 'langevin'? (known: hmc, langevin, mala, sgld)\n"),
    (["describe", "smapler", "x"], "Error: no component kind 'smapler'; did you mean 'sampler' or 'samplers'? "),
    (["sample", "nowhere"], "Error: recipe file not found: nowhere/recipe.toml\n"),
])
def test_user_mistakes_exit_1_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_bad_recipe_value_is_one_line(tiny_recipe):
    result = invoke("run", str(tiny_recipe), "--set", "sampler.step_size=-1")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tiny_recipe} (--set sampler.step_size=-1): sampler.step_size = -1: "
                             "must be > 0.0\n")


def test_plugins_and_describe():
    table = invoke("plugins").stdout
    assert "energyflow.registry.builtin_components" in table and "built-in" in table and "langevin (sgld)" in table
    records = json.loads(invoke("plugins", "--json").stdout)
    assert records[0]["registers"]["task"] == ["generate", "sample", "compose", "ais"]

    described = invoke("describe", "sampler", "sgld")
    assert described.exit_code == 0
    for text in ("sampler 'langevin' (aliases: sgld)", "step_size", "float", "10.0", "gradient step size",
                 "[float, float] | \"data\" | none"):
        assert text in described.stdout
    assert "density" in invoke("describe", "data", "toy2d").stdout
    assert "checkpoint_every" in invoke("describe", "train").stdout
    assert "threads" in invoke("describe", "run").stdout


def test_plugins_add_commands(register_plugin):
    class Hello:
        @hookimpl
        def register_commands(self, app):
            @app.command()
            def hello(name: str = typer.Option("world", help="Who to greet.")) -> None:
                """Say hello."""
                typer.echo(f"hello {name}")

    register_plugin(Hello(), name="hello")
    assert invoke("hello", "--name", "ebm").stdout == "hello ebm\n"
    assert "hello" in invoke("plugins").stdout


def test_conventional_help_flags_and_listing(tiny_recipe):
    assert invoke("-h").exit_code == 0 and "Commands" in invoke("-h").stdout
    assert "RECIPE" in invoke("check", "-h").stdout
    assert invoke("check", str(tiny_recipe), "--no-toml").stdout.rstrip().endswith("is valid")
    listing = invoke("describe")
    assert listing.exit_code == 0 and "langevin" in listing.stdout and "toy2d" in listing.stdout
