"""Run one recipe over several seeds and tabulate its group figures as mean and spread.

One seed's figure moves by as much as the differences a composition recipe measures, so its
targets are judged on seeds 0, 1 and 2. Each seed runs as its own ``energyflow run`` process (one
torch thread, as the recipes set), ``--jobs`` at a time, into ``OUT/seed{N}``; a seed whose
``metrics.json`` is already there is read, not run again. The table has, per ``..._mean[GROUP]``
metric, the mean over seeds, the spread (max - min) and each seed's value, and each run's wall time.

    python benchmarks/seeds.py recipes/compose_position_size.toml --out runs/seeds/position_size
    python benchmarks/seeds.py recipes/compose_objects.toml --seeds 0 1 2 --jobs 2 --set task.samples=30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

KEYS = ("satisfied_mean", "satisfied_realistic_mean", "realistic_mean", "distance_ratio_mean")


def run_seed(recipe: str, out: Path, seed: int, overrides: list[str]) -> tuple[dict[str, float], float | None]:
    """``metrics.json`` of one seed (run now unless already there) and the wall time of the run."""
    folder = out / f"seed{seed}"
    metrics = folder / "metrics.json"
    if metrics.is_file():
        return json.loads(metrics.read_text()), None
    command = [sys.executable, "-m", "energyflow", "run", recipe, "--out", str(folder), "--quiet", "--force",
               "--set", f"run.seed={seed}"]
    for item in overrides:
        command += ["--set", item]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (out / f"seed{seed}.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"seed {seed} failed (exit {done.returncode}); see {out / f'seed{seed}.log'}")
    return json.loads(metrics.read_text()), wall


def table(results: dict[int, tuple[dict[str, float], float | None]]) -> str:
    """Markdown: one row per group metric, mean, spread and each seed; then the wall times."""
    seeds = sorted(results)
    keys = sorted(k for k in results[seeds[0]][0] if k.split("[")[0] in KEYS)
    lines = ["| metric | mean | spread | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|---|" + "---|" * len(seeds)]
    for key in keys:
        values = [results[s][0][key] for s in seeds]
        mean = sum(values) / len(values)
        lines.append(f"| {key} | {mean:.3f} | {max(values) - min(values):.3f} | "
                     + " | ".join(f"{v:.3f}" for v in values) + " |")
    walls = [f"seed {s}: {results[s][1]:.0f} s" if results[s][1] is not None else f"seed {s}: (read)" for s in seeds]
    return "\n".join(lines) + "\n\nWall time per run: " + ", ".join(walls) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (each uses one torch thread)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="a recipe override, repeatable")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {s: pool.submit(run_seed, args.recipe, args.out, s, args.overrides) for s in args.seeds}
        results = {s: f.result() for s, f in futures.items()}
    text = f"`python benchmarks/seeds.py {args.recipe} " + " ".join(
        f"--set {o}" for o in args.overrides) + f"` (seeds {', '.join(map(str, args.seeds))})\n\n" + table(results)
    (args.out / "seeds.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
