"""Nothing is lost: SIGKILL at random moments, resume checks, divergence policies, unsafe checkpoints."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import energyflow
from energyflow.errors import RunError
from energyflow.recipe import load_recipe
from energyflow.runtime import CHECKPOINT, Run
from energyflow.training import Trainer

pytestmark = pytest.mark.usefixtures("plugin_manager")

#: every step checkpoints, so a kill often lands inside a checkpoint write
KILLABLE = ["train.iterations=60", "train.checkpoint_every=1", "train.log_every=1"]


def _run(recipe: Path, out: Path, *overrides: str, **kwargs) -> dict[str, float]:
    return Run(load_recipe(recipe, list(overrides)), out_dir=out, quiet=True, **kwargs).execute()


def test_sigkill_at_random_moments_then_resume_ends_with_the_uninterrupted_metrics(tiny_recipe, tmp_path):
    reference = _run(tiny_recipe, tmp_path / "reference", *KILLABLE)
    out, rng = tmp_path / "killed", random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(Path(energyflow.__file__).parents[1])}
    command = [sys.executable, "-m", "energyflow", "run", str(tiny_recipe), "--out", str(out), "-q", "--resume"]
    for arg in KILLABLE:
        command += ["--set", arg]
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        while process.poll() is None and not (out / CHECKPOINT).exists() and time.monotonic() - started < 300:
            time.sleep(0.01)  # wait for training to be under way, then kill at a random moment
        time.sleep(rng.uniform(0.0, 0.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate()
    assert kills >= 2, "the run finished before it could be killed twice"
    resumed = _run(tiny_recipe, out, *KILLABLE, resume=True)
    assert resumed == reference
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events] == list(range(1, 61))


def test_resume_lists_changed_keys_and_refuses_a_changed_network(tiny_recipe, tmp_path, capsys):
    out = tmp_path / "run"
    _run(tiny_recipe, out, "train.iterations=10")
    with pytest.raises(RunError, match=r"cannot resume from .*checkpoint\.pt: the recipe changed energy\.hidden "
                                       r"since the checkpoint; undo the change, or start over"):
        _run(tiny_recipe, out, "train.iterations=12", "energy.hidden=[32, 32]", resume=True)
    logs: list[str] = []
    run = Run(load_recipe(tiny_recipe, ["train.iterations=12", "train.log_every=2"]), out_dir=out, resume=True)
    run.log = logs.append
    run.execute()
    assert any("resuming with changed train.iterations, train.log_every" in line for line in logs), logs


def _diverge_at(monkeypatch, step: int, times: int = 1) -> None:
    """Make the trainer's step ``step`` report NaN (``times`` times: the step number recurs after a rollback)."""
    real, left = Trainer.step, [times]

    def step_with_nan(self, *args, **kwargs):
        stats = real(self, *args, **kwargs)
        if self.step_count == step and left[0]:
            left[0] -= 1
            stats = {**stats, "loss": float("nan")}
        return stats

    monkeypatch.setattr(Trainer, "step", step_with_nan)


def test_stop_policy_names_the_step_and_keeps_the_last_good_checkpoint(tiny_recipe, tmp_path, monkeypatch):
    _diverge_at(monkeypatch, 13)
    with pytest.raises(RunError, match=r"training diverged at step 13: non-finite loss = nan; lower "
                                       r"sampler\.step_size or train\.lr.*last good checkpoint \(step 10\) is kept"):
        _run(tiny_recipe, tmp_path / "run")
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == 10
    last = json.loads((tmp_path / "run" / "events.jsonl").read_text().splitlines()[-1])
    assert last == {"step": 13, "event": "diverged", "problem": "non-finite loss = nan", "policy": "stop"}


def test_rollback_policy_restores_lowers_the_learning_rate_and_finishes(tiny_recipe, tmp_path, monkeypatch):
    _diverge_at(monkeypatch, 13)
    metrics = _run(tiny_recipe, tmp_path / "run", "train.on_divergence=rollback")
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    rollback = [e for e in events if e.get("event") == "diverged"]
    assert rollback == [{"step": 13, "event": "diverged", "problem": "non-finite loss = nan", "policy": "rollback",
                         "rolled_back_to": 10, "lr": 3e-3 * 0.5}]
    assert [e["step"] for e in events if "event" not in e] == [4, 8, 12, 16, 20, 24]
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert state["step"] == 24 and state["trainer"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1.5e-3)
    assert all(v == v for v in metrics.values())  # finite: no NaN reached the metrics


def test_rollbacks_are_bounded_and_a_gap_bound_counts_as_divergence(tiny_recipe, tmp_path, monkeypatch):
    _diverge_at(monkeypatch, 13, times=5)
    with pytest.raises(RunError, match=r"training diverged at step 13 after 2 rollbacks"):
        _run(tiny_recipe, tmp_path / "a", "train.on_divergence=rollback", "train.max_rollbacks=2")
    monkeypatch.undo()
    with pytest.raises(RunError, match=r"training diverged at step 1: energy gap [-+][\d.e-]+ beyond train\.max_gap"):
        _run(tiny_recipe, tmp_path / "b", "train.max_gap=1e-9")


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_checkpoint_holding_arbitrary_objects_is_refused(tiny_recipe, tmp_path):
    out = tmp_path / "run"
    _run(tiny_recipe, out, "train.iterations=4")
    torch.save({"step": 4, "trainer": Payload()}, out / CHECKPOINT)
    with pytest.raises(RunError, match=r"refusing checkpoint .*checkpoint\.pt: it holds objects other than tensors"):
        _run(tiny_recipe, out, "train.iterations=8", resume=True)
    (out / CHECKPOINT).write_bytes((out / "recipe.toml").read_bytes()[:50])
    with pytest.raises(RunError, match=r"cannot read checkpoint .*checkpoint\.pt \(truncated or not a checkpoint\?\)"):
        _run(tiny_recipe, out, "train.iterations=8", resume=True)
