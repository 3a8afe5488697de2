"""torchrun: two CPU processes (gloo) train one run the way a single process does."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import energyflow
from energyflow.runtime import CHECKPOINT


def _torchrun(recipe: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(energyflow.__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "energyflow", "run", str(recipe), "--out", str(out), "-q", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_train_one_run_and_write_one_set_of_outputs(tiny_recipe, tmp_path):
    out = tmp_path / "ddp"
    done = _torchrun(tiny_recipe, out)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2.0
    assert all(v == v and abs(v) != float("inf") for v in metrics.values()), metrics
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events] == [4, 8, 12, 16, 20, 24] and events[0]["world_size"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "events.jsonl", "metrics.json", "recipe.toml",
                                                      "samples.png", "summary.txt"]
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["step"] == 24 and state["trainer"]["step_count"] == 24

    # --resume with another world size: one process continues the two-process run
    resumed = subprocess.run(
        [sys.executable, "-m", "energyflow", "run", str(tiny_recipe), "--out", str(out), "-q", "--resume",
         "--set", "train.iterations=30"],
        env={**os.environ, "PYTHONPATH": str(Path(energyflow.__file__).parents[1])}, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 30


@pytest.mark.parametrize("world", [2])
def test_ranks_draw_from_disjoint_shards(world):
    from energyflow.runtime.distributed import World, shard

    parts = [set(shard(10, World(rank, world)).tolist()) for rank in range(world)]
    assert parts[0].isdisjoint(parts[1]) and set.union(*parts) == set(range(10))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun_env(rank: int, port: int) -> None:
    """What torchrun sets for a rank of a two-process world, for `join_world` in an `mp.spawn` process."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))


def _gloo_threads() -> list[str]:
    names = []
    for comm in Path("/proc/self/task").glob("*/comm"):
        with contextlib.suppress(OSError):
            names.append(comm.read_text().strip())
    return sorted(name for name in names if "gloo" in name)


def _leave_in_rank(rank: int, port: int, results) -> None:
    from energyflow.runtime.distributed import join_world, leave_world
    from energyflow.training.ranks import average_gradients

    _torchrun_env(rank, port)
    world = join_world()
    net = torch.nn.Linear(3, 3)
    torch.optim.Adam(net.parameters())  # the first optimizer imports dynamo, as a run's trainer does
    net(torch.ones(2, 3)).sum().backward()
    average_gradients(net.parameters())
    leave_world(world)
    results[rank] = _gloo_threads()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread names from /proc")
def test_leaving_the_world_stops_the_process_groups_threads():
    # threads that outlive leave_world die with the interpreter, and a rank exiting right after its last
    # all-reduce then aborts ("terminate called without an active exception")
    import torch.multiprocessing as mp

    results = mp.Manager().dict()
    mp.spawn(_leave_in_rank, args=(_free_port(), results), nprocs=2, join=True)
    assert results[0] == results[1] == []


def _claim_in_rank(rank: int, port: int, recipe: str, out: str, results) -> None:
    from energyflow.errors import RunError
    from energyflow.recipe import load_recipe
    from energyflow.runtime import Run
    from energyflow.runtime.distributed import join_world, leave_world

    _torchrun_env(rank, port)
    world = join_world()
    if rank == 1:  # start after rank 0 has written its first file (or after 2 s, when rank 0 waits for this rank)
        deadline = time.monotonic() + 2
        while not (Path(out) / "recipe.toml").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    try:
        Run(load_recipe(recipe), out_dir=out, quiet=True)
        if rank == 0:
            (Path(out) / "recipe.toml").write_text("")  # what execute() writes first
        results[rank] = "ok"
    except RunError as e:
        results[rank] = str(e)
    finally:
        leave_world(world)


def test_rank_zero_alone_decides_whether_the_run_folder_may_be_written(tiny_recipe, tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "run"
    results = mp.Manager().dict()
    mp.spawn(_claim_in_rank, args=(_free_port(), str(tiny_recipe), str(out), results), nprocs=2, join=True)
    assert results[0] == results[1] == "ok"  # rank 1 did not see rank 0's recipe.toml as an earlier run

    results = mp.Manager().dict()  # the folder holds a run now: every rank stops with rank 0's error
    mp.spawn(_claim_in_rank, args=(_free_port(), str(tiny_recipe), str(out), results), nprocs=2, join=True)
    assert results[0] == results[1] and "holds a run already" in results[0]


def _average_in_rank(rank: int, port: int, results) -> None:
    import torch.distributed as dist

    from energyflow.training.ranks import (
        average_gradients,
        average_stats,
        broadcast_parameters,
    )

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        params = [torch.nn.Parameter(torch.full((3,), float(rank))), torch.nn.Parameter(torch.zeros(2))]
        broadcast_parameters(params)
        params[0].grad = torch.full((3,), float(rank + 1))  # the second parameter has no gradient on any rank
        average_gradients(params)
        stats = average_stats({"loss": 1.0 + 2 * rank, "gap": float("nan") if rank else 0.5})
        results[rank] = (params[0].detach().tolist(), params[0].grad.tolist(), params[1].grad.tolist(),
                         stats["loss"], math.isnan(stats["gap"]))
    finally:
        dist.destroy_process_group()


def test_gradients_and_step_numbers_are_averaged_and_weights_broadcast_over_ranks():
    import torch.multiprocessing as mp

    results = mp.Manager().dict()
    mp.spawn(_average_in_rank, args=(_free_port(), results), nprocs=2, join=True)
    # a step's numbers are the ranks' mean, so a NaN on one rank makes every rank judge the step diverged
    assert results[0] == results[1] == ([0.0, 0.0, 0.0], [1.5, 1.5, 1.5], [0.0, 0.0], 2.0, True)
