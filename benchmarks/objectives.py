"""Training objectives side by side: grid NLL gap of each recipe, and time per step against the peers.

    python benchmarks/objectives.py --speed             # ours vs TorchEBM and ebmkit, same net, batch, thread
    python benchmarks/objectives.py --nll --seeds 0 1 2 # toy2d_{dsm,ssm,nce}.toml on 8gaussians and checkerboard

``--speed`` times one training step (loss, backward, Adam step) of each objective on the same
``MLPEnergy`` (2 -> 128 -> 128 -> 1, SiLU) and the same batch of 128 8gaussians points, one torch
thread: ours through `energyflow.Trainer.step`, the peers' loss classes with the same network and
optimizer. Each timing is the median of ``--repeats`` blocks of ``--steps`` steps, the
implementations interleaved (each goes first in turn), in wall time and in the thread's CPU time
(less sensitive to other jobs on the machine); the load average is printed with each row. The peers are installed for the benchmark only
(``pip install torchebm ebmkit``); a missing one is skipped. ``--nll`` runs each recipe in a fresh
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
from pathlib import Path

import torch

import energyflow as ef
from energyflow.data import sample_toy
from energyflow.training.objectives import (
    DenoisingScoreMatching,
    GaussianNoise,
    NoiseContrast,
    SlicedScoreMatching,
)

ROOT = Path(__file__).resolve().parents[1]
SIGMA = 0.1  # the dsm recipe's noise level


def ours(kind: str, energy: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    objective = {"dsm": lambda: DenoisingScoreMatching(sigma=SIGMA), "ssm": SlicedScoreMatching,
                 "nce": lambda: NoiseContrast(GaussianNoise.fit(x))}[kind]()
    trainer = ef.Trainer(energy, objective, lr=1e-4)
    g = torch.Generator().manual_seed(0)
    return lambda: trainer.step(x, generator=g)


def peers(kind: str, energy: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable[[], None]]:
    """Each installed peer's loss of ``kind`` on ``energy``, as a training step."""
    made: dict[str, Callable[[], None]] = {}
    try:
        import ebm.losses as ek

        noise = GaussianNoise.fit(x)
        dist = torch.distributions.MultivariateNormal(noise.mean, scale_tril=noise.scale_tril)
        ek_loss = {"dsm": lambda: ek.DenoisingScoreMatching(sigma=SIGMA), "ssm": lambda: ek.SlicedScoreMatching(1, vr=True),
                   "nce": lambda: ek.NoiseContrastiveEstimation(dist, noise_ratio=1)}[kind]()
        made["ebmkit"] = _step(lambda: ek_loss(energy, x).loss, [*energy.parameters(), *ek_loss.parameters()])
    except ImportError:
        pass
    try:
        import torchebm.losses as tl

        if kind != "nce":  # TorchEBM has no NCE loss
            energy.device, energy.dtype = x.device, x.dtype  # TorchEBM's losses read these off the model
            tl_loss = (tl.DenoisingScoreMatching(model=energy, noise_scale=SIGMA) if kind == "dsm" else
                       tl.SlicedScoreMatching(model=energy, n_projections=1, projection_type="rademacher"))
            made["torchebm"] = _step(lambda: tl_loss(x), list(energy.parameters()))
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
    for kind in ("dsm", "ssm", "nce"):
        torch.manual_seed(0)
        net = ef.MLPEnergy(2, hidden=(128, 128))
        steps_by = {"energyflow": ours(kind, net, x), **peers(kind, net, x)}
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
        rows.append({"objective": kind, "ms_per_step": ms, "cpu_ms_per_step": cpu_ms,
                     "ours_over_peer": {p: round(ms["energyflow"] / t, 3) for p, t in ms.items() if p != "energyflow"},
                     "ours_over_peer_cpu": {p: round(cpu_ms["energyflow"] / t, 3) for p, t in cpu_ms.items()
                                            if p != "energyflow"},
                     "load_average": [round(a, 2) for a in os.getloadavg()]})
        print(json.dumps(rows[-1]))
    return rows


def nll(seeds: list[int]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("dsm", "ssm", "nce"):
            for density in ("8gaussians", "checkerboard"):
                for seed in seeds:
                    out = Path(tmp) / f"{kind}_{density}_{seed}"
                    sets = [f"data.density={density}", f"run.seed={seed}"]
                    subprocess.run([sys.executable, "-m", "energyflow", "run", str(ROOT / "recipes" / f"toy2d_{kind}.toml"),
                                    "--out", str(out), "--quiet", *[a for s in sets for a in ("--set", s)]],
                                   check=True, cwd=ROOT)
                    gap = json.loads((out / "metrics.json").read_text())["nll_gap"]
                    rows.append({"objective": kind, "density": density, "seed": seed, "nll_gap": gap})
                    print(json.dumps(rows[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="time a training step against the peers")
    parser.add_argument("--nll", action="store_true", help="grid NLL gap of the objective recipes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per implementation")
    args = parser.parse_args()
    if args.speed:
        speed(args.steps, args.repeats)
    if args.nll:
        nll(args.seeds)


if __name__ == "__main__":
    main()
