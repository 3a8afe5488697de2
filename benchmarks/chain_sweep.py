"""Score sampler settings on a trained checkpoint: chains scored at several lengths (issue 11).

    python benchmarks/chain_sweep.py RECIPE CHECKPOINT N [SETTINGS_JSON ...]

Each SETTINGS_JSON is a JSON object of sampler options (``{"anneal_after": 20}``), plus
``"lengths"`` (default [100, 300, 1000]) and ``"start"`` (``noise`` or ``buffer``). Every setting
runs N chains from the same starts (drawn once) and prints, per length, the floor/ceiling ratio,
class coverage, class agreement (conditional) and mean energy, beside the held-out data's energy.
Training is not repeated, so a setting that only changes sampling costs seconds, not minutes.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import attrs
import torch
from energyflow_vision.evaluation.long_run import floor_ceiling_ratio, run_snapshots
from energyflow_vision.evaluation.sample_quality import ImageQuality

from energyflow.recipe import load_recipe
from energyflow.runtime import Run


def main(argv: list[str]) -> None:
    recipe_path, checkpoint, n = argv[0], argv[1], int(argv[2])
    settings = [json.loads(a) for a in argv[3:]] or [{}]
    torch.set_num_threads(1)
    run = Run(load_recipe(recipe_path), out_dir=tempfile.mkdtemp(prefix="chain_sweep_"), quiet=True)
    ctx = run.task_context()
    energy = ctx.load_checkpoint(checkpoint).sampling_energy
    quality = ImageQuality.prepare(ctx.data, device=ctx.device)
    base = ctx.sampler
    labels = ctx.draw_labels(n)
    starts = {"noise": ctx.chain_starts(n), "buffer": ctx.chain_starts(n, "buffer", labels=labels)}
    test_labels = ctx.data.test_labels[:n] if ctx.conditional else None
    print(f"data energy {ctx.mean_energy(energy, ctx.data.test[:n], test_labels):.4f}")
    for setting in settings:
        start = setting.pop("start", "noise")
        lengths = setting.pop("lengths", [100, 300, 1000])
        ctx.sampler = attrs.evolve(base, **setting)
        began = time.time()
        shots = run_snapshots(ctx, energy, starts[start], labels, lengths, batch_size=256, description="sweep")
        cells = []
        for length, x in shots.items():
            scores = quality.evaluate(x, labels, generator=torch.Generator().manual_seed(0))
            agree = scores.get("cond_accuracy", float("nan"))
            cells.append(f"{length}: ratio={floor_ceiling_ratio(scores):.2f} coverage={scores['class_coverage']:.1f} "
                         f"agreement={agree:.3f} energy={ctx.mean_energy(energy, x, labels):.4f}")
        print(start, setting, f"({time.time() - began:.0f} s)", " | ".join(cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
