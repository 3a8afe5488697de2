"""AIS's log Z of trained toy 2-D energies beside the grid's exact value, over seeds (issue 20).

    python benchmarks/ais_toys.py CHAINS TEMPERATURES SEEDS RESOLUTION RUN_DIR ...

Each RUN_DIR is a finished toy2d run (``recipe.toml``, ``checkpoint.pt``). For every run and seed,
`energyflow.tasks.ais.box_log_z` (the generate task's own figures: uniform base on the data's box,
forward from it, reverse from exact grid samples) runs with the given chains and temperatures
(toy2d.toml's: 2000 and 100); prints a Markdown row per run and seed with the gaps to the
grid's log Z. RESOLUTION is the grid's cells per axis, for the exact log Z and the exact samples the
reverse chains start from (toy2d.toml's task uses its ``resolution``, 200; sharp learned densities
need a finer grid for both).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from energyflow.metrics import grid_nll
from energyflow.recipe import load_recipe
from energyflow.runtime import Run
from energyflow.tasks.ais import box_log_z


def main(argv: list[str]) -> None:
    chains, temperatures, seeds, resolution = (int(a) for a in argv[:4])
    torch.set_num_threads(1)
    print("| density | seed | log_z_exact | log_z_forward +- se | log_z_reverse +- se | max abs gap | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run_dir in map(Path, argv[4:]):
        recipe = load_recipe(run_dir / "recipe.toml")
        for seed in range(seeds):
            run = Run(recipe, out_dir=tempfile.mkdtemp(prefix="ais_toys_"), quiet=True)
            ctx = run.task_context()
            ctx.generator.manual_seed(seed)
            energy = ctx.load_checkpoint(run_dir / "checkpoint.pt").sampling_energy.eval()
            exact = grid_nll(energy, ctx.data.test[:10], value_range=ctx.data.value_range,
                             resolution=resolution)["log_z"]
            began = time.perf_counter()
            r = box_log_z(ctx, energy, chains=chains, temperatures=temperatures, resolution=resolution)
            gap = max(abs(r["log_z_forward"] - exact), abs(r["log_z_reverse"] - exact))
            print(f"| {recipe.data.options()['density']} | {seed} | {exact:.4f} | {r['log_z_forward']:.4f} +- "
                  f"{r['log_z_forward_se']:.4f} | {r['log_z_reverse']:.4f} +- {r['log_z_reverse_se']:.4f} | "
                  f"{gap:.4f} | {time.perf_counter() - began:.1f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
