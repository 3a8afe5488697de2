"""Compiled against eager energy-and-gradient steps of the class-conditional digits net, in one process.

    python benchmarks/conditional_compile.py

Prints the cold compile time, whether the two agree, and ms per step for eager and compiled runs,
interleaved (not part of the test run; `BENCHMARKS.md` has the full benchmark).
"""

import time

import torch
from energyflow_vision.nets.mnist import MnistEnergy

from energyflow.core.energy import energy_and_grad
from energyflow.samplers.compiled_step import CompiledStep


def main(calls: int = 50) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    energy = MnistEnergy((1, 8, 8), filters=32, stem_filters=32, num_classes=10)
    x, y = torch.rand(128, 1, 8, 8), torch.randint(0, 10, (128,))
    step = CompiledStep()
    started = time.perf_counter()
    values, grad = step(energy, x, y=y)
    print(f"compile {time.perf_counter() - started:.1f} s, failed: {step.failed}")
    eager_values, eager_grad = energy_and_grad(energy, x, y=y)
    print("agree:", torch.allclose(values, eager_values, atol=1e-5) and torch.allclose(grad, eager_grad, atol=1e-5))
    for name, run in [("eager", lambda: energy_and_grad(energy, x, y=y)), ("compiled", lambda: step(energy, x, y=y))] * 2:
        started = time.perf_counter()
        for _ in range(calls):
            run()
        print(f"{name}: {(time.perf_counter() - started) / calls * 1e3:.1f} ms per step")


if __name__ == "__main__":
    main()
