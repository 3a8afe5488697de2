"""Speed of energyflow's Langevin sampler and CD trainer beside a plain loop and the peer libraries.

Times, in one process with the contenders interleaved (the order rotating each round), the
median of ``--reps`` rounds after a warm-up: Langevin chain steps per second and one full
contrastive-divergence iteration, on three workloads (`contenders.workloads`), for energyflow with
compiling off and ``"auto"``, a plain hand-written loop with the same model and settings, and
torchebm and ebmkit where they import. Also: FLOPs of one energy-and-gradient step
(``FlopCounterMode``), the fraction of a matmul peak measured in the same rounds, peak memory
(resident-set high-water mark of a fresh process running one call, after its warm-up) and
compile times (cold: an empty inductor cache, unless ``--warm-cache``). One torch thread.

    python benchmarks/speed.py                      # writes BENCHMARKS.md and benchmarks/speed.json
    python benchmarks/speed.py --workloads mlp --reps 5 --no-memory --md /tmp/b.md --json /tmp/b.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=["mlp", "digits", "resnet"])
    p.add_argument("--kinds", nargs="+", default=["sampler", "cd", "ablation"], choices=["sampler", "cd", "ablation"],
                   help="sampler, cd: every contender; ablation: the sampler without each part of its fast path")
    p.add_argument("--reps", type=int, default=7, help="timed rounds (the median is reported); at least 5")
    p.add_argument("--min-sample-s", type=float, default=1.0, help="repeat short calls to fill each timed sample")
    p.add_argument("--warm-cache", action="store_true", help="keep the inductor cache (compile times are then warm)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"))
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "speed.json"))
    p.add_argument("--from-json", metavar="PATH", help="only rewrite --md from the results saved in PATH")
    p.add_argument("--memory-probe", nargs=4, metavar=("WORKLOAD", "KIND", "CONTENDER", "MODE"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


ARGS = parse()
if not ARGS.warm_cache and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="energyflow-bench-inductor-")

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from contenders import Workload, ablation, available_peers, contenders, workloads
from report import write_markdown

AUTO = "energyflow (compile auto)"


def matmul_peaks(n: int = 1024, reps: int = 5) -> dict[str, float]:
    """fp32 GFLOP/s of an n x n x n matmul, best of ``reps`` in thread CPU time (one thread, like the
    contenders), by ATen's ``mm`` (its BLAS: MKL here) and by oneDNN, which can differ a lot."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    calls = {"aten_mm": lambda: a @ b}
    if torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        calls["onednn"] = lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")
    out = {}
    for name, call in calls.items():
        call()
        out[name] = 2 * n**3 / min(_timed(call)[1] for _ in range(reps)) / 1e9
    return out


def _timed(fn, *args) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn(*args)
    return time.perf_counter() - wall, time.thread_time() - cpu


def step_flops(w: Workload) -> int:
    """FLOPs of E(x) and dE/dx (parameters frozen, as the chains run), by torch's FlopCounterMode."""
    energy = w.make().requires_grad_(False)
    x = w.x0(torch.Generator().manual_seed(0)).requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        energy(x).sum().backward()  # counts as energy_and_grad's autograd.grad does
    return counter.get_total_flops()


def settle(fn, arg, sampler, limit: int = 40) -> tuple[int, float]:
    """Call an "auto" contender until its policy has decided; returns calls and seconds taken."""
    started, calls = time.perf_counter(), 0
    while calls < limit:
        fn(arg)
        calls += 1
        records = sampler.fast_path().records.values()
        if records and all(r.state in ("compiled", "slower", "failed") for r in records):
            break
    return calls, time.perf_counter() - started


def bench(w: Workload, kind: str, peers: dict, args: argparse.Namespace) -> dict:
    gen = torch.Generator().manual_seed(123)
    arg = w.data(w.shape[0], gen) if kind == "cd" else w.x0(gen)
    field = ablation(w) if kind == "ablation" else contenders(w, kind, peers)
    print(f"[{w.name} {kind}] warming up {', '.join(field)}", flush=True)
    warm: dict = {}
    for name, (fn, sampler) in field.items():
        if name == AUTO:
            calls, seconds = settle(fn, arg, sampler)
            warm[name] = {"calls": calls, "seconds": seconds, "fast_path": sampler.fast_path().summary()}
        for _ in range(2):
            fn(arg)
    per_call = _timed(field["plain loop"][0], arg)[0]
    calls = max(1, round(args.min_sample_s / max(per_call, 1e-9)))
    names = list(field)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    peaks = []
    for r in range(args.reps):
        peaks.append(matmul_peaks())
        for name in names[r % len(names):] + names[: r % len(names)]:
            fn = field[name][0]
            t_wall, t_cpu = _timed(lambda fn=fn: [fn(arg) for _ in range(calls)])
            wall[name].append(t_wall / calls)
            cpu[name].append(t_cpu / calls)
        print(f"[{w.name} {kind}] round {r + 1}/{args.reps}: "
              + ", ".join(f"{n} {wall[n][-1] * 1e3:.1f} ms" for n in names), flush=True)
    out = {"calls_per_sample": calls, "wall_s": wall, "cpu_s": cpu, "matmul_peak_gflops": peaks, "warmup": warm}
    if AUTO in field:
        out["auto"] = field[AUTO][1].fast_path().summary()
    else:
        out["compiled"] = {name: s.fast_path().summary() for name, (_, s) in field.items() if s is not None}
    return out


def memory(w: Workload, kind: str, names: list[str], auto_state: str) -> dict:
    """Peak resident memory (MB above the warmed-up process) of one call, each contender in a fresh process."""
    import subprocess

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = {}
    for name in names:
        mode = "true" if (name == AUTO and auto_state == "compiled") else "false"
        cmd = [sys.executable, __file__, "--memory-probe", w.name, kind, name, mode]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
        try:
            out[name] = json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]
        except (IndexError, ValueError, KeyError):
            out[name] = None
            print(f"memory probe failed for {w.name} {kind} {name}: {done.stderr[-400:]}", flush=True)
    return out


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def memory_probe(wname: str, kind: str, name: str, mode: str) -> None:
    import gc

    torch.set_num_threads(1)
    w = workloads()[wname]
    field = contenders(w, kind, available_peers())
    fn, sampler = field[name]
    if sampler is not None:  # the state "auto" settled on in the timed run, without its warm-up
        sampler.__dict__["_fast_path"] = sampler.compiled(mode == "true").fast_path()
    gen = torch.Generator().manual_seed(123)
    arg = w.x0(gen) if kind == "sampler" else w.data(w.shape[0], gen)
    for _ in range(3):
        fn(arg)
    gc.collect()
    base = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    fn(arg)
    print(json.dumps({"peak_mb": (_status("VmHWM") - base) / 2**20}))


def machine(peers: dict) -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": sys.version.split()[0],
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "peers": peers, "load_average_start": os.getloadavg(),
            "inductor_cache": "warm (kept)" if ARGS.warm_cache else "cold (empty at start)"}


def main(args: argparse.Namespace) -> None:
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        Path(args.md).write_text(write_markdown(results, os.path.relpath(args.from_json, Path(args.md).parent)))
        print(f"wrote {args.md} from {args.from_json}")
        return
    if args.reps < 5:
        raise SystemExit("--reps must be at least 5")
    torch.set_num_threads(1)
    peers = available_peers()
    info = machine(peers)
    info["command"] = "python " + " ".join([os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    started = time.time()
    table = workloads()
    results: dict = {"machine": info, "workloads": {}}
    for name in args.workloads:
        w = table[name]
        entry = {"label": w.label, "steps_per_call": w.steps, "batch": w.shape[0], "planned_steps": w.planned,
                 "step_flops": step_flops(w)}
        for kind in args.kinds:
            entry[kind] = bench(w, kind, peers, args)
            if not args.no_memory and kind != "ablation":
                auto = entry[kind]["auto"]
                state = auto[0]["state"] if auto else "eager"
                entry[kind]["peak_mb"] = memory(w, kind, list(entry[kind]["wall_s"]), state)
        results["workloads"][name] = entry
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    info["load_average_end"] = os.getloadavg()
    info["duration_s"] = round(time.time() - started, 1)
    info["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    Path(args.md).write_text(write_markdown(results, os.path.relpath(args.json, Path(args.md).parent)))
    print(f"wrote {args.md} and {args.json}")


if __name__ == "__main__":
    main(ARGS)
