"""Training objectives side by side: grid NLL gap of each recipe, and time per step against the peers.

    python benchmarks/objectives.py --speed             # ours vs TorchEBM and ebmkit, same net, batch, thread
    python benchmarks/objectives.py --nll --seeds 0 1 2 # toy2d_{dsm,ssm,nce}.toml on 8gaussians and checkerboard

``--speed`` times one training step (loss, backward, Adam step) of each objective on the same
``MLPEnergy`` (2 -> 128 -> 128 -> 1, SiLU) and the same batch of 128 8gaussians points, one torch
thread: ours through `energyflow.Trainer.step`, the peers' loss classes with the same network and
optimizer. Each timing is the median of ``--repeats`` blocks of ``--steps`` steps, the
implementations interleaved (each goes first in turn), in wall time and in the thread's CPU time
(less sensitive to other jobs on the machine); the load average is printed with each row. Each objective is
timed in its basic setting (one noise draw, one slice, ratio 1) and, where the recipe's ``[objective]``
table differs, in the recipe's, the peers then given the same work. The peers are installed for the
benchmark only (``pip install torchebm ebmkit``); a missing one is skipped. ``--nll`` runs each recipe in a fresh
process and prints the gap of its grid NLL to the true NLL (``nll_gap`` in ``metrics.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import energyflow as ef
from energyflow.data import sample_toy
from energyflow.training.objectives import (
    DenoisingScoreMatching,
    GaussianMixtureNoise,
    GaussianNoise,
    NoiseContrast,
    SlicedScoreMatching,
)

ROOT = Path(__file__).resolve().parents[1]
SIGMA = 0.1  # the dsm recipe's noise level
KINDS = ("dsm", "ssm", "nce")
DENSITIES = ("8gaussians", "checkerboard")


def recipe_options(kind: str) -> dict[str, Any]:
    """The ``[objective]`` table of ``recipes/toy2d_KIND.toml``, less its ``kind``."""
    table = tomllib.loads((ROOT / "recipes" / f"toy2d_{kind}.toml").read_text())["objective"]
    return {k: v for k, v in table.items() if k != "kind"}


def _noise(x: torch.Tensor, options: dict[str, Any]) -> GaussianNoise | GaussianMixtureNoise:
    scale, components = options.get("noise_scale", 1.0), options.get("components", 1)
    return GaussianNoise.fit(x, scale) if components == 1 else GaussianMixtureNoise.fit(x, components, scale)


def ours(kind: str, energy: torch.nn.Module, x: torch.Tensor, options: dict[str, Any]) -> Callable[[], None]:
    if kind == "nce":
        objective = NoiseContrast(_noise(x, options), options.get("ratio", 1))
    else:
        objective = {"dsm": DenoisingScoreMatching, "ssm": SlicedScoreMatching}[kind](**options)
    trainer = ef.Trainer(energy, objective, lr=1e-4)
    g = torch.Generator().manual_seed(0)
    return lambda: trainer.step(x, generator=g)


def peers(kind: str, energy: torch.nn.Module, x: torch.Tensor, options: dict[str, Any]) -> dict[str, Callable[[], None]]:
    """Each installed peer's loss of ``kind`` on ``energy``, as a training step doing the same work as ours with
    ``options``: ``noise_draws`` repeats the batch, ssm's data noise ``sigma`` is added to it first."""
    made: dict[str, Callable[[], None]] = {}
    draws, sigma = options.get("noise_draws", 1), options.get("sigma", SIGMA if kind == "dsm" else 0.0)
    batch = x.repeat(draws, 1)

    def data() -> torch.Tensor:  # ssm with data noise: blur the (repeated) batch, as ours does
        return batch + sigma * torch.randn_like(batch) if kind == "ssm" and sigma > 0 else batch

    slices, directions = options.get("slices", 1), options.get("directions", "rademacher")
    try:
        import ebm.losses as ek

        noise = _noise(x, options)
        if isinstance(noise, GaussianMixtureNoise):
            dist = torch.distributions.MixtureSameFamily(
                torch.distributions.Categorical(logits=noise.log_weights),
                torch.distributions.MultivariateNormal(noise.means, scale_tril=noise.scale_trils))
        else:
            dist = torch.distributions.MultivariateNormal(noise.mean, scale_tril=noise.scale_tril)
        ek_loss = {"dsm": lambda: ek.DenoisingScoreMatching(sigma=sigma),
                   "ssm": lambda: ek.SlicedScoreMatching(slices, vr=options.get("variance_reduced", True)),
                   "nce": lambda: ek.NoiseContrastiveEstimation(dist, noise_ratio=options.get("ratio", 1))}[kind]()
        made["ebmkit"] = _step(lambda: ek_loss(energy, data()).loss, [*energy.parameters(), *ek_loss.parameters()])
    except ImportError:
        pass
    try:
        import torchebm.losses as tl

        if kind != "nce":  # TorchEBM has no NCE loss
            energy.device, energy.dtype = x.device, x.dtype  # TorchEBM's losses read these off the model
            tl_loss = (tl.DenoisingScoreMatching(model=energy, noise_scale=sigma) if kind == "dsm" else
                       tl.SlicedScoreMatching(model=energy, n_projections=slices, projection_type=directions))
            made["torchebm"] = _step(lambda: tl_loss(data()), list(energy.parameters()))
    except ImportError:
        pass
    return made


def _step(loss: Callable[[], torch.Tensor], params: list[torch.nn.Parameter]) -> Callable[[], None]:
    optimizer = torch.optim.Adam(params, lr=1e-4, betas=(0.0, 0.999))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return step


def speed(steps: int, repeats: int) -> list[dict]:
    torch.set_num_threads(1)
    x = sample_toy("8gaussians", 128, torch.Generator().manual_seed(0))
    rows = []
    basic = {"dsm": {"sigma": SIGMA}, "ssm": {}, "nce": {}}  # one noise draw, one slice, ratio 1
    for kind, setting in [(k, "basic") for k in KINDS] + [(k, "recipe") for k in KINDS]:
        options = basic[kind] if setting == "basic" else recipe_options(kind)
        if setting == "recipe" and options == basic[kind]:
            continue
        torch.manual_seed(0)
        net = ef.MLPEnergy(2, hidden=(128, 128))
        steps_by = {"energyflow": ours(kind, net, x, options), **peers(kind, net, x, options)}
        wall: dict[str, list[float]] = {name: [] for name in steps_by}
        cpu: dict[str, list[float]] = {name: [] for name in steps_by}
        names = list(steps_by)
        for r in range(repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:  # each goes first in turn
                step = steps_by[name]
                for _ in range(3):
                    step()  # warm-up
                start, start_cpu = time.perf_counter(), time.thread_time()
                for _ in range(steps):
                    step()
                wall[name].append((time.perf_counter() - start) / steps * 1e3)
                cpu[name].append((time.thread_time() - start_cpu) / steps * 1e3)
        ms = {name: round(statistics.median(t), 3) for name, t in wall.items()}
        cpu_ms = {name: round(statistics.median(t), 3) for name, t in cpu.items()}
        rows.append({"objective": kind, "options": options, "ms_per_step": ms, "cpu_ms_per_step": cpu_ms,
                     "ours_over_peer": {p: round(ms["energyflow"] / t, 3) for p, t in ms.items() if p != "energyflow"},
                     "ours_over_peer_cpu": {p: round(cpu_ms["energyflow"] / t, 3) for p, t in cpu_ms.items()
                                            if p != "energyflow"},
                     "load_average": [round(a, 2) for a in os.getloadavg()]})
        print(json.dumps(rows[-1]))
    return rows


def nll(seeds: list[int], jobs: int = 1, kinds: tuple[str, ...] = KINDS,
        densities: tuple[str, ...] = DENSITIES) -> list[dict]:
    """Each recipe on each density and seed (``jobs`` at once, each in its own process); a mean and spread per pair."""

    def one(kind: str, density: str, seed: int, tmp: str) -> dict:
        out = Path(tmp) / f"{kind}_{density}_{seed}"
        sets = [f"data.density={density}", f"run.seed={seed}"]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "energyflow", "run", str(ROOT / "recipes" / f"toy2d_{kind}.toml"),
                        "--out", str(out), "--quiet", *[a for s in sets for a in ("--set", s)]], check=True, cwd=ROOT)
        gap = json.loads((out / "metrics.json").read_text())["nll_gap"]
        row = {"objective": kind, "density": density, "seed": seed, "nll_gap": round(gap, 3),
               "wall_s": round(time.perf_counter() - start)}
        print(json.dumps(row), flush=True)
        return row

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        runs = [(k, d, s) for k in kinds for d in densities for s in seeds]
        rows = list(pool.map(lambda run: one(*run, tmp), runs))
    for kind in kinds:
        for density in densities:
            gaps = [r["nll_gap"] for r in rows if r["objective"] == kind and r["density"] == density]
            spread = statistics.stdev(gaps) if len(gaps) > 1 else 0.0
            print(f"{kind:4s} {density:13s} mean {statistics.mean(gaps):.3f}  sd {spread:.3f}  "
                  f"min {min(gaps):.3f}  max {max(gaps):.3f}  ({' / '.join(f'{g:.3f}' for g in gaps)})")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="time a training step against the peers")
    parser.add_argument("--nll", action="store_true", help="grid NLL gap of the objective recipes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="--nll runs at once (each one thread)")
    parser.add_argument("--objectives", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--densities", nargs="+", default=list(DENSITIES))
    parser.add_argument("--steps", type=int, default=50, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per implementation")
    args = parser.parse_args()
    if args.speed:
        speed(args.steps, args.repeats)
    if args.nll:
        nll(args.seeds, args.jobs, tuple(args.objectives), tuple(args.densities))


if __name__ == "__main__":
    main()
