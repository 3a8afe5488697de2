"""Behaviour unchanged? Run two recipes at a test size, eager, and compare metrics.json with a saved copy.

A refactoring that moves code must not change what a run computes. This script runs
``recipes/toy2d.toml`` and ``recipes/digits_conditional.toml`` shrunk with ``--set`` to seconds,
with ``run.compile=false`` (compiled steps agree with eager ones only to rounding), each in a
fresh process, and either saves their ``metrics.json`` or compares them, key by key and exactly,
with a saved file. Timing keys (``compile_s``) are left out.

    python benchmarks/same_metrics.py --save benchmarks/same_metrics.json    # before the change
    python benchmarks/same_metrics.py --against benchmarks/same_metrics.json # after: exit 1 on any difference

Save and compare on the same machine: another CPU's kernels round differently (a fresh 2-core machine
differed from the committed file in the 8th digit, from the same commit).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["run.compile=false", "run.threads=1", "run.device=\"cpu\""]
RUNS = {
    "toy2d": ["train.iterations=60", "task.num_samples=256", "task.chain_steps=30"],
    "digits_conditional": [
        "train.iterations=6", "train.batch_size=16", "sampler.steps=3", "energy.filters=8", "energy.stem_filters=8",
        "buffer.capacity=64", "task.num_samples=10", "task.eval_samples=20", "task.chain_steps=3",
        "task.chain_rows=2", "task.chain_frames=2", "task.per_class=1", "task.nearest=2",
        "task.classifier_steps=30", "task.long_samples=6", "task.long_steps=[2, 4]", "task.long_buffer_steps=3",
    ],
}
TIMING_KEYS = ("compile_s",)


def run_all() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in RUNS.items():
            folder = Path(tmp) / name
            sets = COMMON + overrides
            if name == "digits_conditional":
                sets = [*sets, f"task.cache_dir={json.dumps(str(Path(tmp) / 'cache'))}"]
            args = [sys.executable, "-m", "energyflow", "run", str(ROOT / "recipes" / f"{name}.toml"), "--out",
                    str(folder), "--quiet", *[a for s in sets for a in ("--set", s)]]
            subprocess.run(args, check=True, cwd=ROOT)
            metrics = json.loads((folder / "metrics.json").read_text())
            out[name] = {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
    return out


def differences(before: dict, after: dict) -> list[str]:
    rows = []
    for run in sorted(before.keys() | after.keys()):
        old, new = before.get(run, {}), after.get(run, {})
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key) and not (old.get(key) != old.get(key) and new.get(key) != new.get(key)):
                rows.append(f"{run}.{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="write the metrics to this JSON file")
    group.add_argument("--against", type=Path, help="compare with this JSON file; exit 1 on any difference")
    args = parser.parse_args()
    metrics = run_all()
    if args.save:
        args.save.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.save}: " + ", ".join(f"{k} ({len(v)} metrics)" for k, v in metrics.items()))
        return 0
    rows = differences(json.loads(args.against.read_text()), metrics)
    for row in rows:
        print(row)
    count = sum(len(v) for v in metrics.values())
    print(f"{count} metrics compared with {args.against}: " + (f"{len(rows)} differ" if rows else "all equal"))
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
