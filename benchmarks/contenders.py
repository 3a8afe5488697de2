"""The workloads and contenders `speed.py` times: the same energy and Langevin settings in each.

A sampler contender is ``run(x0) -> x`` (one call: ``steps`` Langevin transitions of the whole
batch); a trainer contender is ``step(x_pos)`` (one contrastive-divergence iteration: chain
starts from a replay buffer, ``steps`` transitions, the loss, its backward pass, an Adam step,
the chains pushed back). Every contender starts from its own copy of one initialised energy.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

import energyflow as ef


@dataclass
class Workload:
    """One energy, batch and Langevin setting (``ula``: textbook noise, else IGEBM's noise and clip)."""

    name: str
    label: str
    make: Callable[[], torch.nn.Module]
    shape: tuple[int, ...]
    steps: int
    step_size: float
    noise: float | str
    grad_clip: float | None
    clamp: tuple[float, float]
    planned: int  # transitions "auto" is told the run plans (iterations x steps of a typical run)
    data: Callable[[int, torch.Generator], torch.Tensor] = field(default=None)  # type: ignore[assignment]

    def x0(self, generator: torch.Generator) -> torch.Tensor:
        low, high = self.clamp
        return low + (high - low) * torch.rand(self.shape, generator=generator)

    def langevin(self) -> ef.Langevin:
        return ef.Langevin(steps=self.steps, step_size=self.step_size, noise=self.noise, grad_clip=self.grad_clip,
                           clamp=self.clamp)

    @property
    def sigma(self) -> float:
        return math.sqrt(2 * self.step_size) if self.noise == "ula" else float(self.noise)


def _images(shape: tuple[int, ...]) -> Callable[[int, torch.Generator], torch.Tensor]:
    return lambda n, g: torch.rand((n, *shape[1:]), generator=g)


def _toy(n: int, g: torch.Generator) -> torch.Tensor:
    from energyflow.data.toy2d import sample_toy

    return sample_toy("8gaussians", n, g)


def workloads() -> dict[str, Workload]:
    from energyflow_vision.nets import resnet32
    from energyflow_vision.nets.mnist import MnistEnergy

    return {w.name: w for w in (
        Workload("mlp", "MLP 2-128x3-1, batch 1024 (ULA, toy2d.toml settings)",
                 lambda: ef.MLPEnergy(2, hidden=(128, 128, 128)), (1024, 2), 20, 0.02, "ula", None, (-4.0, 4.0),
                 planned=10_000 * 20, data=_toy),
        Workload("digits", "digits CNN: vision mnist_net, filters 32, 1x8x8, batch 128 (IGEBM Langevin)",
                 lambda: MnistEnergy((1, 8, 8), filters=32, stem_filters=32), (128, 1, 8, 8), 20, 10.0, 0.005, 0.01,
                 (0.0, 1.0), planned=10_000 * 20, data=_images((128, 1, 8, 8))),
        Workload("resnet", "ResNet: vision resnet32, filters 32, 3x32x32, batch 64 (IGEBM Langevin)",
                 lambda: resnet32(3, filters=32), (64, 3, 32, 32), 20, 10.0, 0.005, 0.01, (0.0, 1.0),
                 planned=100_000 * 60, data=_images((64, 3, 32, 32))),
    )}


# --------------------------------------------------------------------------- samplers
def plain_langevin(w: Workload, energy: torch.nn.Module, generator: torch.Generator) -> Callable:
    """The loop a user writes by hand: noise, autograd.grad, clip, step, clamp."""
    def run(x: torch.Tensor) -> torch.Tensor:
        for _ in range(w.steps):
            if w.noise == "ula":
                x = x.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(energy(x).sum(), x)
                x = x.detach() - w.step_size * grad + w.sigma * torch.randn(x.shape, generator=generator)
            else:
                x = (x + w.sigma * torch.randn(x.shape, generator=generator)).requires_grad_(True)
                (grad,) = torch.autograd.grad(energy(x).sum(), x)
                x = x.detach() - w.step_size * grad.clamp(-w.grad_clip, w.grad_clip)
            x = x.clamp(*w.clamp)
        return x.detach()
    return run


def energyflow_langevin(w: Workload, energy: torch.nn.Module, generator: torch.Generator, mode: Any) -> tuple:
    sampler = w.langevin().compiled(mode, planned_steps=w.planned, log=lambda m: None)
    return (lambda x: sampler.sample(energy, x, generator=generator)), sampler


def ebmkit_sampler(w: Workload) -> Any:
    import ebm

    return ebm.LangevinDynamics(step_size=w.step_size, steps=w.steps, noise_scale=None if w.noise == "ula" else w.sigma,
                                grad_clip=w.grad_clip, clamp=w.clamp)


def ebmkit_langevin(w: Workload, energy: torch.nn.Module, generator: torch.Generator) -> Callable:
    sampler = ebmkit_sampler(w)  # ebmkit draws its noise from torch's global generator
    return lambda x: sampler.sample(energy, x)


class _TorchebmModel:
    """An energyflow energy as a torchebm ``BaseModel`` (built lazily so the import stays optional)."""

    @staticmethod
    def wrap(energy: torch.nn.Module) -> Any:
        from torchebm.core import BaseModel

        class Wrapped(BaseModel):
            def __init__(self, inner: torch.nn.Module):
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.inner(x)

        return Wrapped(energy)


def torchebm_langevin(w: Workload, energy: torch.nn.Module, generator: torch.Generator) -> Callable:
    from torchebm.samplers import LangevinDynamics

    # torchebm's Euler-Maruyama step is x - eta*grad + sqrt(2*eta)*noise_scale*N(0,1); it has no
    # gradient clipping (an elementwise clamp: a negligible share of a step's time).
    noise_scale = 1.0 if w.noise == "ula" else w.sigma / math.sqrt(2 * w.step_size)
    sampler = LangevinDynamics(_TorchebmModel.wrap(energy), step_size=w.step_size, noise_scale=noise_scale,
                               clamp=w.clamp, device=torch.device("cpu"))
    return lambda x: sampler.sample(x=x, n_steps=w.steps, generator=generator)


# --------------------------------------------------------------------------- one CD iteration
def plain_cd(w: Workload, energy: torch.nn.Module, generator: torch.Generator) -> Callable:
    """Persistent CD by hand: a tensor buffer, 5% restarts, the plain loop, Adam."""
    sample = plain_langevin(w, energy, generator)
    low, high = w.clamp
    buffer = low + (high - low) * torch.rand((10_000, *w.shape[1:]), generator=generator)
    opt = torch.optim.Adam(energy.parameters(), lr=1e-4, betas=(0.0, 0.999))

    def step(x_pos: torch.Tensor) -> float:
        n = x_pos.shape[0]
        idx = torch.randint(buffer.shape[0], (n,), generator=generator)
        x0 = buffer[idx]
        fresh = torch.rand(n, generator=generator) < 0.05
        x0[fresh] = w.x0(generator)[: int(fresh.sum())]
        x_neg = sample(x0)
        loss = energy(x_pos).mean() - energy(x_neg).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        buffer[idx] = x_neg
        return float(loss)
    return step


def energyflow_cd(w: Workload, energy: torch.nn.Module, generator: torch.Generator, mode: Any) -> tuple:
    sampler = w.langevin().compiled(mode, planned_steps=w.planned, log=lambda m: None)
    buffer = ef.ReplayBuffer(tuple(w.shape[1:]), capacity=10_000, reinit_prob=0.05, init_range=w.clamp)
    cd = ef.ContrastiveDivergence(energy, sampler, buffer, lr=1e-4, betas=(0.0, 0.999))
    return (lambda x_pos: cd.step(x_pos, generator=generator)["loss"]), sampler


def ebmkit_cd(w: Workload, energy: torch.nn.Module, generator: torch.Generator) -> Callable:
    import ebm

    low, high = w.clamp
    init = lambda shape: low + (high - low) * torch.rand(shape)
    cd = ebm.ContrastiveDivergence(ebmkit_sampler(w), buffer=ebm.ReplayBuffer(10_000, w.shape[1:], init_fn=init))
    opt = torch.optim.Adam(energy.parameters(), lr=1e-4, betas=(0.0, 0.999))

    def step(x_pos: torch.Tensor) -> float:
        out = cd(energy, x_pos)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        return out.metrics["loss"]
    return step


def torchebm_cd(w: Workload, energy: torch.nn.Module, generator: torch.Generator) -> Callable:
    from torchebm.losses import ContrastiveDivergence
    from torchebm.samplers import LangevinDynamics

    model = _TorchebmModel.wrap(energy)
    noise_scale = 1.0 if w.noise == "ula" else w.sigma / math.sqrt(2 * w.step_size)
    sampler = LangevinDynamics(model, step_size=w.step_size, noise_scale=noise_scale, clamp=w.clamp,
                               device=torch.device("cpu"))
    cd = ContrastiveDivergence(model, sampler, k_steps=w.steps, persistent=True, buffer_size=10_000, init_steps=0,
                               new_sample_ratio=0.05, energy_reg_weight=0.0)
    opt = torch.optim.Adam(energy.parameters(), lr=1e-4, betas=(0.0, 0.999))

    def step(x_pos: torch.Tensor) -> float:
        loss, _ = cd(x_pos, generator=generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)
    return step


def available_peers() -> dict[str, str | None]:
    """Each peer library's version, or ``None`` where it does not import."""
    found: dict[str, str | None] = {}
    for name, module in (("torchebm", "torchebm"), ("ebmkit", "ebm")):
        try:
            found[name] = __import__(module).__version__
        except Exception:  # noqa: BLE001  an optional extra; the report says it is missing
            found[name] = None
    return found


def contenders(w: Workload, kind: str, peers: dict[str, str | None], seed: int = 0) -> dict[str, tuple]:
    """Name -> (callable, energyflow sampler or None) for ``kind`` "sampler" or "cd"."""
    torch.manual_seed(seed)
    base = w.make()
    out: dict[str, tuple] = {}

    def energy() -> torch.nn.Module:
        return copy.deepcopy(base)

    gen = lambda i: torch.Generator().manual_seed(seed + i)
    if kind == "sampler":
        out["plain loop"] = (plain_langevin(w, energy(), gen(1)), None)
        out["energyflow (compile off)"] = energyflow_langevin(w, energy(), gen(2), False)
        out["energyflow (compile auto)"] = energyflow_langevin(w, energy(), gen(3), "auto")
        if peers.get("torchebm"):
            out["torchebm"] = (torchebm_langevin(w, energy(), gen(4)), None)
        if peers.get("ebmkit"):
            out["ebmkit"] = (ebmkit_langevin(w, energy(), gen(5)), None)
    else:
        out["plain loop"] = (plain_cd(w, energy(), gen(1)), None)
        out["energyflow (compile off)"] = energyflow_cd(w, energy(), gen(2), False)
        out["energyflow (compile auto)"] = energyflow_cd(w, energy(), gen(3), "auto")
        if peers.get("torchebm"):
            out["torchebm"] = (torchebm_cd(w, energy(), gen(4)), None)
        if peers.get("ebmkit"):
            out["ebmkit"] = (ebmkit_cd(w, energy(), gen(5)), None)
    return out


# --------------------------------------------------------------------------- what each part buys
def ablation(w: Workload, seed: int = 0) -> dict[str, tuple]:
    """The sampler with each part of the fast path taken away in turn (compile forced on, so no
    probe decides), and eager with parameters frozen, beside the plain loop."""
    from energyflow.samplers.compiled_step import CompiledStep, frozen_parameters

    torch.manual_seed(seed)
    base = w.make()
    gen = lambda i: torch.Generator().manual_seed(seed + i)
    images = len(w.shape) == 4
    variants: dict[str, dict] = {"compiled (all of it)": {}}
    if images:
        variants["compiled, no input-free conv grads"] = {"passes": ("onednn_matmuls",)}
        variants["compiled, no channels-last inputs"] = {"channels_last": False}
    else:
        variants["compiled, no oneDNN matmuls"] = {"passes": ("input_free_conv_grads",)}
    variants["compiled, none of the CPU parts"] = {"passes": (), "channels_last": False}

    out: dict[str, tuple] = {"plain loop": (plain_langevin(w, copy.deepcopy(base), gen(1)), None)}
    eager, g = copy.deepcopy(base), gen(2)
    sampler = w.langevin()
    out["eager"] = ((lambda x: sampler.sample(eager, x, generator=g)), None)
    frozen, gf = copy.deepcopy(base), gen(3)

    def eager_frozen(x: torch.Tensor) -> torch.Tensor:
        with frozen_parameters(frozen):
            return sampler.sample(frozen, x, generator=gf)
    out["eager, parameters frozen"] = (eager_frozen, None)
    for i, (name, options) in enumerate(variants.items()):
        energy, gi = copy.deepcopy(base), gen(4 + i)
        compiled = w.langevin().compiled(True, log=lambda m: None)
        compiled.fast_path().make_step = lambda options=options: CompiledStep(**options)
        out[name] = ((lambda x, s=compiled, e=energy, g=gi: s.sample(e, x, generator=g)), compiled)
    return out
