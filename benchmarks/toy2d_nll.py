"""Density-estimation quality on toy 2-D data: grid NLL of a trained MLP energy beside the true NLL.

Trains `MLPEnergy` with the contrastive-divergence trainer (persistent ULA chains in a replay
buffer) on each density, normalises exp(-E) numerically on a 256x256 grid and reports the
held-out NLL next to the data's exact NLL, with the CPU time each took.

    python benchmarks/toy2d_nll.py                      # 8gaussians and rings
    python benchmarks/toy2d_nll.py --densities rings --iterations 3000
"""

from __future__ import annotations

import argparse
import time

import torch

import energyflow as ef
from energyflow.data.toy2d import sample_toy, toy_log_prob
from energyflow.metrics import grid_nll


def train_density(name: str, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    train = sample_toy(name, args.n_train, g)
    test = sample_toy(name, 5000, g)
    energy = ef.MLPEnergy(2, hidden=tuple(args.hidden))
    if args.sampler == "mala":
        sampler = ef.MALA(steps=args.steps, step_size=args.step_size, bounds=(-4.0, 4.0))
    else:
        sampler = ef.Langevin(steps=args.steps, step_size=args.step_size, noise="ula", grad_clip=None, clamp=(-4.0, 4.0))
    buffer = ef.ReplayBuffer((2,), capacity=args.buffer, reinit_prob=args.reinit, init_range=(-4.0, 4.0))
    regs = [ef.L2Energy(weight=args.l2)] if args.l2 > 0 else []
    cd = ef.ContrastiveDivergence(energy, sampler, buffer, regs, lr=args.lr, betas=(0.9, 0.999), ema_decay=args.ema)
    start = time.process_time(), time.perf_counter()
    for _ in range(args.iterations):
        idx = torch.randint(train.shape[0], (args.batch_size,), generator=g)
        cd.step(train[idx], generator=g)
    cpu, wall = time.process_time() - start[0], time.perf_counter() - start[1]
    result = grid_nll(cd.sampling_energy, test, value_range=(-4.0, 4.0), resolution=256, log_prob=toy_log_prob(name))
    return {**result, "cpu_s": cpu, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--densities", nargs="+", default=["8gaussians", "rings"])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--sampler", choices=["ula", "mala"], default="ula")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-size", type=float, default=0.01)
    parser.add_argument("--buffer", type=int, default=10000)
    parser.add_argument("--reinit", type=float, default=0.05)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--ema", type=float, default=0.999, help="evaluate an EMA of the weights with this decay")
    parser.add_argument("--n-train", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a 128-wide MLP gains nothing from more)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'density':<12} {'grid NLL':>9} {'true NLL':>9} {'gap':>6} {'CPU s':>7} {'wall s':>7}")
    for name in args.densities:
        r = train_density(name, args)
        print(f"{name:<12} {r['nll']:9.3f} {r['true_nll']:9.3f} {r['gap']:6.3f} {r['cpu_s']:7.1f} {r['wall_s']:7.1f}", flush=True)


if __name__ == "__main__":
    main()
