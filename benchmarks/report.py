"""BENCHMARKS.md from the results `speed.py` collects (every number here is computed from them)."""

from __future__ import annotations

import statistics
from typing import Any

AUTO = "energyflow (compile auto)"
OFF = "energyflow (compile off)"
PLAIN = "plain loop"


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _fmt(value: float | None, spec: str = ".2f", none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def summarise(entry: dict, kind: str) -> dict[str, dict[str, Any]]:
    """Per contender: median seconds per call (wall and thread CPU time) and ratios to the plain loop."""
    data = entry[kind]
    wall, cpu = data["wall_s"], data["cpu_s"]
    out = {}
    for name in wall:
        row = {"wall": _med(wall[name]), "cpu": _med(cpu[name])}
        row["ratio_wall"] = _med(wall[PLAIN]) / row["wall"]
        row["ratio_cpu"] = _med(cpu[PLAIN]) / row["cpu"]
        row["paired_wall"] = _med([p / c for p, c in zip(wall[PLAIN], wall[name])])
        row["peak_mb"] = data.get("peak_mb", {}).get(name)
        out[name] = row
    return out


def _peak(rounds: list[dict[str, float]]) -> float:
    """The machine's fp32 matmul peak: the faster library's median over the rounds."""
    return max(_med([r[lib] for r in rounds]) for lib in rounds[0])


def _sampler_table(results: dict) -> list[str]:
    lines = [("| workload | contender | chain steps/s | x plain (wall) | x plain (CPU) | GFLOP/s (CPU) | "
              "% of matmul peak | peak MB |"), "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, entry in results["workloads"].items():
        if "sampler" not in entry:
            continue
        steps, flops = entry["steps_per_call"], entry["step_flops"]
        peak = _peak(entry["sampler"]["matmul_peak_gflops"])
        for contender, row in summarise(entry, "sampler").items():
            gflops = flops * steps / row["cpu"] / 1e9
            lines.append(f"| {name} | {contender} | {steps / row['wall']:.1f} | {row['ratio_wall']:.2f} | "
                         f"{row['ratio_cpu']:.2f} | {gflops:.1f} | {100 * gflops / peak:.0f}% | "
                         f"{_fmt(row['peak_mb'], '.1f')} |")
    return lines


def _ablation_table(results: dict) -> list[str]:
    lines = ["| workload | sampler | chain steps/s | x plain (wall) | x plain (CPU) | x eager (CPU) | compiled step |",
             "|---|---|---:|---:|---:|---:|---|"]
    for name, entry in results["workloads"].items():
        if "ablation" not in entry:
            continue
        rows, steps = summarise(entry, "ablation"), entry["steps_per_call"]
        states = entry["ablation"].get("compiled", {})
        for variant, row in rows.items():
            state = ", ".join(r["state"] + (f" ({r['reason']})" if r["reason"] else "") for r in states.get(variant, []))
            lines.append(f"| {name} | {variant} | {steps / row['wall']:.1f} | {row['ratio_wall']:.2f} | "
                         f"{row['ratio_cpu']:.2f} | {rows['eager']['cpu'] / row['cpu']:.2f} | {state or '-'} |")
    return lines


def _cd_table(results: dict) -> list[str]:
    lines = ["| workload | contender | ms / iteration | x plain (wall) | x plain (CPU) | peak MB |",
             "|---|---|---:|---:|---:|---:|"]
    for name, entry in results["workloads"].items():
        if "cd" not in entry:
            continue
        for contender, row in summarise(entry, "cd").items():
            lines.append(f"| {name} | {contender} | {1e3 * row['wall']:.1f} | {row['ratio_wall']:.2f} | "
                         f"{row['ratio_cpu']:.2f} | {_fmt(row['peak_mb'], '.1f')} |")
    return lines


def _compile_table(results: dict) -> list[str]:
    lines = [("| workload | where | decision | compile s | estimate s | eager ms/step | compiled ms/step | "
              "break-even steps | auto warm-up (calls, s) |"), "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, entry in results["workloads"].items():
        for kind in ("sampler", "cd"):
            if kind not in entry:
                continue
            rows = summarise(entry, kind)
            steps = entry["steps_per_call"]
            warm = entry[kind]["warmup"].get(AUTO, {})
            for rec in entry[kind]["auto"]:
                eager = rows[OFF]["wall"] / steps
                fast = rows[AUTO]["wall"] / steps
                gain = eager - fast
                even = rec["compile_s"] / gain if rec["compile_s"] and gain > 0 else None
                lines.append(f"| {name} | {kind} | {rec['state']} ({rec['reason'] or '-'}) | "
                             f"{_fmt(rec['compile_s'], '.1f')} | {_fmt(rec['compile_estimate_s'], '.1f')} | "
                             f"{1e3 * eager:.2f} | {1e3 * fast:.2f} | {_fmt(even, ',.0f')} | "
                             f"{warm.get('calls', 'n/a')}, {_fmt(warm.get('seconds'), '.1f')} |")
    return lines


def _targets(results: dict) -> list[str]:
    """The issue's targets, checked against this run (wall and CPU time alike)."""
    lines = ["| target | workload | wall | CPU | met |", "|---|---|---:|---:|---|"]
    peers = ("torchebm", "ebmkit")
    for name, entry in results["workloads"].items():
        for kind, need in (("sampler", 1.25), ("cd", 1.15)):
            if kind not in entry:
                continue
            rows = summarise(entry, kind)
            auto = rows[AUTO]
            if kind == "sampler":
                for other in ("plain loop", *peers):
                    if other not in rows:
                        continue
                    wall, cpu = auto["ratio_wall"] / rows[other]["ratio_wall"], auto["ratio_cpu"] / rows[other]["ratio_cpu"]
                    lines.append(f"| sampler (auto) >= {other} | {name} | {wall:.2f}x | {cpu:.2f}x | "
                                 f"{'yes' if min(wall, cpu) >= 1 else 'no'} |")
            if name in ("mlp", "resnet"):
                what = "sampler" if kind == "sampler" else "CD iteration"
                lines.append(f"| {what} (auto) >= {need}x plain | {name} | {auto['ratio_wall']:.2f}x | "
                             f"{auto['ratio_cpu']:.2f}x | {'yes' if min(auto['ratio_wall'], auto['ratio_cpu']) >= need else 'no'} |")
    return lines


NOTES = [
    "- The fast path: `Sampler.compiled(mode)` (a run: `[run] compile`, default \"auto\") evaluates the",
    "  chains' energy and input gradient through `torch.compile` of `torch.func.grad(E, has_aux=True)`,",
    "  traced whole, one graph per energy structure and chain shape (`energyflow/samplers/fast_path.py`, `compiled_step.py`). On the CPU",
    "  two graph passes (`energyflow/samplers/cpu_passes.py`) send large fp32 matrix products to oneDNN instead of",
    "  ATen's BLAS, and give a convolution's input gradient an unwritten channels-last stand-in for the",
    "  input it never reads; 4-d inputs enter the graph channels-last. The ablation table shows what each",
    "  part buys on this machine.",
    "- Why oneDNN: compare the two matmul peaks under Machine. ATen's `mm` goes to MKL, whose sgemm",
    "  reaches well under half of what oneDNN's reaches on this AMD EPYC core; every plain PyTorch loop",
    "  (and both peer libraries) pays that in its linear layers. Convolutions already run in oneDNN.",
    "- Eager sampling leaves the parameters' `requires_grad` alone: freezing them saves the activations",
    "  kept for weight gradients, but made the eager steps slower (the \"eager, parameters frozen\" rows).",
    "  Compiled runs freeze them (the graph runs without autograd either way), so a guard on",
    "  `requires_grad` does not split the live energy and its frozen EMA copy into two graphs.",
    "- \"auto\" stays eager for its first runs, compiles when the planned work pays for a cold compile",
    "  (estimate column), then alternates compiled and eager runs and keeps the faster; the trainer's",
    "  sampler compiles the same graph as the sampler benchmark before it, so its compile hits inductor's",
    "  cache. A test-sized run never compiles.",
    "- Peers: torchebm's Langevin has no gradient clipping (its noise is matched to the same sigma);",
    "  ebmkit draws its noise from torch's global generator. Both import and run here with the installed",
    "  CPU torch (`pip install --no-deps torchebm ebmkit`, or the `bench` extra where torch is already",
    "  satisfied). Same energies, batch, steps and Adam settings for all.",
    "- Two cores were shared with other jobs during the run (load averages above): wall-time ratios",
    "  carry that noise, thread-CPU-time ratios much less of it.",
]


def write_markdown(results: dict, json_path: str) -> str:
    m = results["machine"]
    peers = ", ".join(f"{k} {v}" if v else f"{k}: not importable" for k, v in m["peers"].items())
    workloads = "\n".join(f"- **{name}**: {e['label']}; {e['steps_per_call']} Langevin steps per call; "
                          f"{e['step_flops'] / 1e6:,.1f} MFLOP per energy-and-gradient step (FlopCounterMode); "
                          f"\"auto\" told the run plans {e['planned_steps']:,} steps"
                          for name, e in results["workloads"].items())
    rounds = [p for e in results["workloads"].values() for k in ("sampler", "cd") if k in e
              for p in e[k]["matmul_peak_gflops"]]
    peaks = ", ".join(f"{lib} median {_med([r[lib] for r in rounds]):.1f} GFLOP/s (range "
                      f"{min(r[lib] for r in rounds):.1f}-{max(r[lib] for r in rounds):.1f})" for lib in rounds[0]) \
        if rounds else ""
    return "\n".join([
        "# Benchmarks: sampler and trainer speed",
        "",
        "Written by `benchmarks/speed.py` (raw samples in `" + json_path + "`); every number below is computed",
        "from that run. Regenerate with:",
        "",
        f"    {m['command']}",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, torch CPU capability {m['cpu_capability']}; one torch thread",
        f"- torch {m['torch']}, Python {m['python']}; peers: {peers}",
        f"- inductor cache: {m['inductor_cache']}; run on {m.get('date', '?')} in {m.get('duration_s', '?')} s",
        (f"- load average at start {tuple(round(x, 2) for x in m['load_average_start'])}, at end "
         f"{tuple(round(x, 2) for x in m.get('load_average_end', (0, 0, 0)))} (other jobs shared the 2 cores)"),
        (f"- fp32 matmul peak, one thread, measured in every timed round (1024^3, best of 5, thread CPU "
         f"time): {peaks}; \"% of matmul peak\" is against the faster of the two"),
        "",
        "## Workloads",
        "",
        workloads,
        "",
        "Method: the contenders run interleaved in one process, the order rotating each round; each",
        "number is the median of the timed rounds after a warm-up (the \"auto\" contender warms up until",
        "its policy has decided). \"x plain\" is the plain loop's median time over the contender's (above 1:",
        "faster). Wall time is what a user waits; thread CPU time leaves out the time other jobs held the",
        "core. GFLOP/s and the share of the matmul peak use the CPU time. Peak MB: resident-set",
        "high-water mark of one call above the warmed-up process, each contender in a fresh process.",
        "",
        "## Langevin sampler (chain steps per second)",
        "",
        *_sampler_table(results),
        "",
        "## One contrastive-divergence iteration",
        "",
        *_cd_table(results),
        "",
        "## What each part of the fast path buys (ablation)",
        "",
        "The sampler with compiling forced on and one CPU part taken away at a time (the parts that do",
        "nothing for a workload are left out: no matrix product in the convolutional nets is large enough",
        "for oneDNN, and the MLP has no convolution), and eager with its parameters frozen while it samples.",
        "",
        *_ablation_table(results),
        "",
        "## Targets (from the issue), as measured here",
        "",
        *_targets(results),
        "",
        "## Compiling (\"auto\")",
        "",
        "Compile s: the first call of the compiled step (trace and build), measured in the run; estimate",
        "s: what the policy expected before compiling; break-even: steps after which the compile has",
        "paid for itself at the measured step times.",
        "",
        *_compile_table(results),
        "",
        "## Notes",
        "",
        *NOTES,
        "",
    ])
