"""Runs: the run folder, reproducibility, checkpoints and --resume, lifecycle hooks, tasks, pictures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from energyflow import hookimpl
from energyflow.data.toy2d import Toy2DSpec
from energyflow.errors import RunError
from energyflow.models import MLPEnergy
from energyflow.recipe import load_recipe
from energyflow.runtime import CHECKPOINT, Run
from energyflow.tasks.image_tables import save_image_grid
from energyflow.tasks.pictures import save_density_plot
from energyflow.testing import inline_plugin
from energyflow.training import Trainer

pytestmark = pytest.mark.usefixtures("plugin_manager")


def _run(recipe: Path, out: Path, *overrides: str, resume: bool = False) -> dict[str, float]:
    return Run(load_recipe(recipe, list(overrides)), out_dir=out, quiet=True, resume=resume).execute()


def _events(out: Path) -> list[dict]:
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "elapsed_s"} for line in lines]


def test_run_writes_the_run_folder(tiny_recipe, tmp_path):
    out = tmp_path / "run"
    metrics = _run(tiny_recipe, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt", "events.jsonl", "metrics.json", "recipe.toml", "samples.png", "summary.txt",
    ]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert {"loss", "e_pos", "e_neg", "gap", "nll", "log_z", "true_nll", "nll_gap", "mmd_replay", "mmd_chains",
            "energy_replay", "energy_chains"} <= set(metrics)
    events = _events(out)
    assert [e["step"] for e in events] == [4, 8, 12, 16, 20, 24]
    assert all(e["gap"] == pytest.approx(e["e_neg"] - e["e_pos"]) for e in events)
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["step"] == 24 and state["trainer"]["step_count"] == 24
    assert not list(out.glob(".*.tmp")), "checkpoints are written through a temp file and os.replace"
    with Image.open(out / "samples.png") as image:
        assert image.width > 2 * image.height  # density | data | buffer | chains, side by side
    resolved = load_recipe(out / "recipe.toml")
    assert resolved.to_dict() == load_recipe(tiny_recipe).to_dict()


def test_same_recipe_and_seed_give_identical_metrics(tiny_recipe, tmp_path):
    first = _run(tiny_recipe, tmp_path / "a")
    again = _run(tmp_path / "a" / "recipe.toml", tmp_path / "b")  # repeated from its own folder
    other_seed = _run(tiny_recipe, tmp_path / "c", "run.seed=4")
    assert again == first
    assert _events(tmp_path / "b") == _events(tmp_path / "a")
    assert other_seed != first


class InterruptAt:
    """Stops training like a Ctrl-C between two steps."""

    def __init__(self, step: int):
        self.step = step

    @hookimpl
    def on_step(self, step):
        if step == self.step:
            raise KeyboardInterrupt


def test_resume_after_an_interrupted_run_reproduces_the_uninterrupted_one(tiny_recipe, tmp_path, monkeypatch):
    full = _run(tiny_recipe, tmp_path / "full")

    out = tmp_path / "between-steps"
    with inline_plugin(InterruptAt(17)), pytest.raises(KeyboardInterrupt):
        _run(tiny_recipe, out)
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 17  # saved on the way out
    assert not (out / "metrics.json").exists()
    assert _run(tiny_recipe, out, resume=True) == full
    assert _events(out) == _events(tmp_path / "full")
    assert _run(tiny_recipe, out, resume=True) == full  # a finished run: nothing left to train

    out = tmp_path / "mid-step"
    real_step = Trainer.step

    def step_then_crash(self, *args, **kwargs):
        if self.step_count == 13:
            raise KeyboardInterrupt  # half-way through a step: that state must not be saved
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "step", step_then_crash)
    with pytest.raises(KeyboardInterrupt):
        _run(tiny_recipe, out)
    monkeypatch.undo()
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 10  # the last periodic one
    assert _run(tiny_recipe, out, resume=True) == full
    assert _events(out) == _events(tmp_path / "full")


def test_resume_without_a_checkpoint_starts_fresh(tiny_recipe, tmp_path):
    assert _run(tiny_recipe, tmp_path / "a", resume=True) == _run(tiny_recipe, tmp_path / "b")


def test_lifecycle_hooks_see_the_run(tiny_recipe, tmp_path):
    seen: dict[str, list] = {"start": [], "steps": [], "end": []}

    class Recorder:
        @hookimpl
        def on_run_start(self, run):
            seen["start"].append((run.recipe.name, (run.out_dir / "recipe.toml").exists()))

        @hookimpl
        def on_step(self, run, step, metrics):
            seen["steps"].append((step, sorted(metrics)[:3]))

        @hookimpl
        def on_run_end(self, run, metrics):
            seen["end"].append(json.loads((run.out_dir / "metrics.json").read_text()) == metrics)

    with inline_plugin(Recorder()):
        _run(tiny_recipe, tmp_path / "run")
    assert seen["start"] == [("tiny", True)]
    assert [s for s, _ in seen["steps"]] == list(range(1, 25))
    assert seen["steps"][0][1] == ["e_neg", "e_pos", "gap"]
    assert seen["end"] == [True]


def test_sample_task_draws_from_a_trained_checkpoint(tiny_recipe, tmp_path):
    out = tmp_path / "run"
    _run(tiny_recipe, out)
    trained = torch.load(out / CHECKPOINT, weights_only=True)
    metrics = _run(tiny_recipe, tmp_path / "sampled", "task.kind=sample",
                   f"task.checkpoint={json.dumps(str(out / CHECKPOINT))}", "task.from_buffer=false")
    assert {"mmd_chains", "energy_chains", "nll"} <= set(metrics) and "mmd_replay" not in metrics
    assert (tmp_path / "sampled" / "samples.png").exists()
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == trained["step"]
    with pytest.raises(RunError, match=r"checkpoint not found: .*nowhere\.pt"):
        _run(tiny_recipe, tmp_path / "none", "task.kind=sample", 'task.checkpoint="nowhere.pt"')


def test_user_mistakes_found_while_building_are_run_errors(tiny_recipe, tmp_path):
    with pytest.raises(RunError, match=r"tiny\.toml: \[energy\] \(mlp\): mlp energy: conditional = true, but dataset "
                                       r"'toy2d' has no class labels"):
        _run(tiny_recipe, tmp_path / "run", "energy.conditional=true")
    assert not (tmp_path / "run").exists(), "a run that could not start leaves no empty folder"
    (tmp_path / "kept").mkdir()
    with pytest.raises(RunError):
        _run(tiny_recipe, tmp_path / "kept", "energy.conditional=true")
    assert (tmp_path / "kept").is_dir(), "a folder that was there before stays"
    if not torch.cuda.is_available():
        with pytest.raises(RunError, match="CUDA is not available"):
            _run(tiny_recipe, tmp_path / "run", "run.device=cuda")


def test_pictures(tmp_path):
    data = Toy2DSpec(n_train=64, n_test=64).build(type("Ctx", (), {"generator": torch.Generator().manual_seed(0)}))
    path = save_density_plot(tmp_path / "d.png", MLPEnergy(2, hidden=(8,)), data, {"a": data.train, "b": data.test},
                             resolution=20)
    with Image.open(path) as image:
        assert image.size == (4 * 352, 396)  # four 3.2 x 3.6 inch panels at 110 dpi
    path = save_image_grid(tmp_path / "g.png", torch.rand(10, 1, 8, 8), title="ten")
    with Image.open(path) as image:
        assert min(image.size) >= 300


def test_a_short_toy2d_run_learns_most_of_the_density(tmp_path):
    """recipes/toy2d.toml cut to 600 steps (about 8 s): most of the way from uniform (1.3 nats worse) to the truth.

    Measured: nll_gap 0.40, mmd_chains 0.0048 at seed 0 (and 0.69, 0.0086 after only 300 steps).
    """
    recipe = load_recipe(Path(__file__).parents[2] / "recipes" / "toy2d.toml", [
        "train.iterations=600", "task.num_samples=500", "task.chain_steps=100"])
    metrics = Run(recipe, out_dir=tmp_path / "toy2d", quiet=True).execute()
    assert metrics["nll_gap"] < 0.55, metrics
    assert metrics["mmd_chains"] < 0.007, metrics


@pytest.mark.slow
def test_toy2d_recipe_learns_the_density(tmp_path):
    """The first main job: recipes/toy2d.toml end to end (1-2 minutes on two CPU cores)."""
    recipe = load_recipe(Path(__file__).parents[2] / "recipes" / "toy2d.toml")
    metrics = Run(recipe, out_dir=tmp_path / "toy2d", quiet=True).execute()
    assert metrics["nll_gap"] < 0.25, metrics  # uniform on the box would be 1.3 nats worse than the truth
    assert metrics["mmd_chains"] < 0.005, metrics


def test_tensorboard_logger_writes_every_step_and_the_metrics(tiny_recipe, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    metrics = _run(tiny_recipe, tmp_path / "tb", "run.tensorboard=true")
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 25))
    assert events.Scalars("result/nll_gap")[0].value == pytest.approx(metrics["nll_gap"])


def test_the_run_builds_its_sampler_with_the_recipes_compile_setting_and_reports_compile_time(tiny_recipe, tmp_path):
    run = Run(load_recipe(tiny_recipe, ["run.compile=false"]), out_dir=tmp_path / "off", quiet=True)
    assert run.sampler.fast_path().mode is False
    assert run.sampler.fast_path().planned_steps == 24 * 5  # train.iterations x sampler.steps
    auto = Run(load_recipe(tiny_recipe), out_dir=tmp_path / "auto", quiet=True)
    assert auto.sampler.fast_path().mode == "auto"
    assert "compile_s" not in auto.execute()  # 120 planned steps never pay a compile back


def test_a_run_made_with_its_own_plugin_manager_runs_its_task_under_it(tiny_recipe, tmp_path):
    from energyflow import Task
    from energyflow import registry as plugins

    class ProbeTask(Task):
        metrics = {"sees_its_plugins": "1 when the task resolves the run's own plugins"}

        def run(self, ctx):  # a task resolving a component by name, as the ood task resolves its datasets
            return {"sees_its_plugins": float("registry_probe" in plugins.get_registry("task").names())}

    class Probe:
        @hookimpl
        def register_tasks(self, register):
            register("registry_probe", ProbeTask)

    own = plugins.make_plugin_manager(entry_points=False)
    with inline_plugin(Probe(), pm=own):
        recipe = load_recipe(tiny_recipe, ['task={kind = "registry_probe"}'], pm=own)
        metrics = Run(recipe, out_dir=tmp_path / "run", quiet=True, pm=own).execute()
    assert metrics == {"sees_its_plugins": 1.0}


def test_a_run_that_fails_late_keeps_its_folder_and_says_what_is_in_it(tiny_recipe, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from energyflow.tasks.generate import GenerateTask

    def fail_after_training(self, ctx):
        ctx.train()
        raise RuntimeError("the task broke after training")

    monkeypatch.setattr(GenerateTask, "run", fail_after_training)
    out, said = tmp_path / "late", io.StringIO()
    with pytest.raises(RuntimeError, match="broke after training"):
        Run(load_recipe(tiny_recipe), out_dir=out, console=Console(file=said, width=200)).execute()
    kept = sorted(p.name for p in out.iterdir())
    assert {"recipe.toml", "checkpoint.pt", "events.jsonl"} <= set(kept)
    assert f"the run stopped; {out} keeps what it wrote: {', '.join(kept)}" in " ".join(said.getvalue().split())
