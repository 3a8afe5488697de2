"""energyflow's AIS beside ebmkit's ``ais_log_z`` on one trained energy and schedule (issue 20).

    pip install ebmkit          # the peer, into this benchmark's environment only
    python benchmarks/ais.py RUN_DIR [TEMPERATURES] [CHAINS] [REPEATS]

RUN_DIR holds a finished run (``recipe.toml`` and ``checkpoint.pt``, e.g. ``runs/ais_digits``).
Both estimate log Z of the run's sampling energy over the data's box with the same uniform base,
the same geometric schedule (defaults: 1000 temperatures), the same number of chains (256) and one
MALA step per temperature starting at step size 0.01, each adapting it its own way from past
temperatures (ebmkit's MALA cannot reject moves outside the box, so its base is a torch Uniform
whose log density is -inf outside and its Metropolis test rejects them). Runs alternate, one
thread, same process; the table gives each run's estimate with its standard error and the median
seconds per temperature, and the ratio ours / peer.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from energyflow import MALA
from energyflow.likelihood import UniformBase, ais
from energyflow.recipe import load_recipe
from energyflow.runtime import Run


def main(argv: list[str]) -> None:
    run_dir = Path(argv[0])
    temperatures, chains, repeats = (int(a) for a in (argv[1:] + ["1000", "256", "3"][len(argv) - 1:])[:3])
    torch.set_num_threads(1)
    import ebm  # the peer

    run = Run(load_recipe(run_dir / "recipe.toml"), out_dir=tempfile.mkdtemp(prefix="ais_bench_"), quiet=True)
    ctx = run.task_context()
    energy = ctx.load_checkpoint(run_dir / "checkpoint.pt").sampling_energy.eval()
    shape, (low, high) = ctx.data.sample_shape, ctx.data.value_range
    peer_base = torch.distributions.Independent(
        torch.distributions.Uniform(torch.full(shape, low), torch.full(shape, high), validate_args=False), len(shape))
    rows: dict[str, list[tuple[float, float, float]]] = {"energyflow": [], "ebmkit": []}
    for repeat in range(repeats):
        began = time.perf_counter()
        ours = ais(energy, UniformBase(low, high), shape, chains=chains, temperatures=temperatures,
                   sampler=MALA(steps=1, step_size=0.01), generator=torch.Generator().manual_seed(repeat))
        rows["energyflow"].append((ours.log_z, ours.stderr, (time.perf_counter() - began) / temperatures))
        torch.manual_seed(repeat)
        began = time.perf_counter()
        peer = ebm.ais_log_z(energy, shape, base=peer_base, n_temps=temperatures, n_chains=chains, transitions=1,
                             sampler=ebm.samplers.MALA(step_size=0.01, steps=1), schedule="geometric")
        rows["ebmkit"].append((peer.log_z, peer.stderr, (time.perf_counter() - began) / temperatures))
        print(f"repeat {repeat}: energyflow {ours.log_z:.4f} +- {ours.stderr:.4f} (ESS {ours.ess:.0f}), "
              f"ebmkit {peer.log_z:.4f} +- {peer.stderr:.4f} (ESS {peer.ess:.0f})", flush=True)
    print(f"\n{run_dir}: {temperatures} geometric temperatures, {chains} chains, {repeats} repeats, one thread")
    print("| library | log Z (per repeat, +- stderr) | median s / temperature |")
    print("| --- | --- | --- |")
    median = {}
    for name, values in rows.items():
        median[name] = statistics.median(v[2] for v in values)
        estimates = ", ".join(f"{z:.3f} +- {se:.3f}" for z, se, _ in values)
        print(f"| {name} | {estimates} | {median[name] * 1000:.2f} ms |")
    print(f"\nratio energyflow / ebmkit (time per temperature): {median['energyflow'] / median['ebmkit']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
