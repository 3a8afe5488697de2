"""Runs users can trust: no silent overwrite, SIGTERM / SIGINT stop after the current step with a checkpoint."""

from __future__ import annotations

import json
import os
import shutil
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

pytestmark = pytest.mark.usefixtures("plugin_manager")


def test_a_second_run_into_a_folder_holding_a_run_stops_and_keeps_the_first(tiny_recipe, tmp_path):
    out = tmp_path / "tiny"
    first = Run(load_recipe(tiny_recipe), out_dir=out, quiet=True).execute()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(RunError, match=r"holds a run already \(recipe\.toml, metrics\.json, events\.jsonl, "
                                       r"checkpoint\.pt\); continue it with --resume, replace it with --force"):
        Run(load_recipe(tiny_recipe, ["train.iterations=5"]), out_dir=out, quiet=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert json.loads((out / "metrics.json").read_text()) == first
    replaced = Run(load_recipe(tiny_recipe, ["train.iterations=5"]), out_dir=out, quiet=True, force=True).execute()
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 5 and replaced != first


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_finishes_the_step_writes_a_checkpoint_there_and_exits(tiny_recipe, tmp_path, signum, code):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(energyflow.__file__).parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "energyflow", "run", str(tiny_recipe), "--out", str(out), "-q",
         "--set", "train.iterations=1000000", "--set", "train.log_every=1", "--set", "train.checkpoint_every=1000000"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = out / "events.jsonl"
    deadline = time.monotonic() + 300  # start-up (imports) can be slow on a loaded machine
    while time.monotonic() < deadline and (not events.exists() or len(events.read_text().splitlines()) < 3):
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)
    assert len(events.read_text().splitlines()) >= 3, "training did not reach step 3 in time"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "continue with --resume" in stderr
    steps = [json.loads(line)["step"] for line in events.read_text().splitlines()]
    saved = torch.load(out / CHECKPOINT, weights_only=True)["step"]
    assert saved == steps[-1] >= 3  # the step reached, not a periodic checkpoint (there was none)


def test_an_unwritable_folder_or_a_full_disk_fails_at_start(tiny_recipe, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(RunError, match=r"cannot write the run folder .*file/run: .*; choose another with --out DIR"):
        Run(load_recipe(tiny_recipe), out_dir=tmp_path / "file" / "run", quiet=True)
    monkeypatch.setattr("energyflow.runtime.folder.shutil.disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 10**6))
    with pytest.raises(RunError, match=r"only 1 MiB free on the disk of .*; checkpoints and pictures need at least"):
        Run(load_recipe(tiny_recipe), out_dir=tmp_path / "full", quiet=True)
