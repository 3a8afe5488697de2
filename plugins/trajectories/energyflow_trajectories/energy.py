"""``kind = "trajectory_mlp"``: an energy E(next state | past states, graph).

Inputs are put on a common scale first. Past states are divided by the data's spread of
positions and velocities, past changes by the typical one-step change, and the candidate next
state enters as its *residual*: its difference from a reference read off the past (the linear
extrapolation of the last two states, or the last state), divided by the typical size of that
residual (a robust spread, so the rare wall bounce does not set the scale). With ``squash`` the
residual goes through ``asinh``: linear near the typical step, logarithmic for a bounce.
Two bodies share that front end:

- the plain MLP: every number of the context and of the residual, one SiLU network, a linear
  ``head`` (the core's ``spectral_norm`` regularizer leaves ``head`` alone);
- ``pairwise = true``, an interaction network: a message MLP over every ordered pair of particles
  (relative past positions / velocities, relative residual, the pair's spring and charge
  product), summed over partners, then a per-particle MLP of the particle's own past, its
  residual and its summed messages, summed over particles. It is invariant to relabelling the
  particles.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange
from torch import nn

import energyflow
from energyflow_trajectories.data import (
    FEATURES,
    ContextLayout,
    Scales,
    reference,
    trajectory_data,
)

REFERENCES = ("extrapolate", "last")


def mlp(width: int, hidden: tuple[int, ...], out: int | None = 1) -> nn.Sequential:
    """SiLU layers of widths ``hidden`` after ``width`` inputs, then (unless ``out`` is None) a linear layer."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.SiLU()]
        width = h
    if out is not None:
        layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


class ContextFeatures(nn.Module):
    """The scaled inputs every trajectory model shares: past states, past changes, graph.

    Args:
        layout: how contexts are laid out.
        scales: the data's scales.
        reference: ``"extrapolate"`` or ``"last"``, what residuals are measured from.
    """

    def __init__(self, layout: ContextLayout, scales: Scales, reference: str = "extrapolate"):
        super().__init__()
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
        self.layout, self.reference = layout, reference
        self.register_buffer("state_scale", scales.state.float().clone())
        self.register_buffer("step_scale", scales.step.float().clone())
        self.register_buffer("residual_scale", scales.residual[reference].float().clone())
        self.register_buffer("residual_std", scales.residual_std[reference].float().clone())

    @property
    def own_width(self) -> int:
        """Per-particle context features: scaled past states and past changes."""
        return (2 * self.layout.history - 1) * FEATURES

    def forward(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The context's parts: ``past`` ``(b, k, N, 4)`` raw and ``scaled``, ``own`` per-particle features
        ``(b, N, F)``, ``graph`` ``(b, G)`` and the reference state ``ref`` ``(b, N, 4)``."""
        past, graph = self.layout.split(y)
        scaled = past / self.state_scale
        changes = (past[:, 1:] - past[:, :-1]) / self.step_scale
        own = torch.cat([rearrange(scaled, "b k p f -> b p (k f)"), rearrange(changes, "b k p f -> b p (k f)")], -1)
        return {"past": past, "scaled": scaled, "own": own, "graph": graph, "ref": reference(past, self.reference)}


class TrajectoryEnergy(energyflow.Energy):
    """E(x | y): ``x`` the next state ``(batch, 4N)``, ``y`` the context ``(batch, D)`` (see `ContextLayout`).

    Args:
        layout: how contexts are laid out.
        scales: the data's scales (`TrajectoryData.scales`).
        hidden: widths of the SiLU layers.
        pairwise: the interaction-network body instead of the plain MLP.
        reference: what the residual of the next state is measured from, ``"extrapolate"`` or ``"last"``.
        squash: pass the scaled residual through ``asinh``.
    """

    context_keys = ("y",)

    def __init__(self, layout: ContextLayout, scales: Scales, hidden: tuple[int, ...] = (256, 256),
                 pairwise: bool = False, reference: str = "extrapolate", squash: bool = True):
        super().__init__()
        self.layout, self.hidden, self.pairwise, self.squash = layout, tuple(hidden), pairwise, squash
        self.context = ContextFeatures(layout, scales, reference)
        own = self.context.own_width + FEATURES
        if pairwise:
            pair_inputs = layout.history * FEATURES + FEATURES + int(layout.springs) + int(layout.charges)
            self.message = mlp(pair_inputs, self.hidden, out=self.hidden[-1])
            self.body = mlp(own + self.hidden[-1], self.hidden, out=None)
        else:
            self.body = mlp(layout.num_particles * own + layout.graph_features, self.hidden, out=None)
        self.head = nn.Linear(self.hidden[-1], 1)

    def _shape(self, residual: torch.Tensor) -> torch.Tensor:
        return torch.asinh(residual) if self.squash else residual

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        expected = self.layout.state_features
        if x.dim() != 2 or x.shape[1] != expected:
            raise ValueError(f"TrajectoryEnergy: expected x of shape (batch, {expected}), got {tuple(x.shape)}")
        f = self.context(y.to(x.dtype))
        residual = (rearrange(x, "b (p f) -> b p f", f=FEATURES) - f["ref"]) / self.context.residual_scale
        own = torch.cat([f["own"], self._shape(residual)], dim=-1)
        if not self.pairwise:
            h = torch.cat([rearrange(own, "b p f -> b (p f)"), f["graph"]], dim=1)
            return rearrange(self.head(self.body(h)), "b 1 -> b")
        count, scaled = self.layout.num_particles, f["scaled"]
        rel_past = rearrange(scaled[:, :, :, None] - scaled[:, :, None, :], "b k i j f -> b i j (k f)")
        rel_residual = self._shape(residual[:, :, None] - residual[:, None, :])
        pairs = torch.cat([rel_past, rel_residual, self.layout.pair_graph(f["graph"])], dim=-1)
        off_diagonal = ~torch.eye(count, dtype=torch.bool, device=x.device)
        messages = (self.message(pairs) * off_diagonal[None, :, :, None]).sum(2)
        return self.head(self.body(torch.cat([own, messages], dim=-1))).sum((1, 2))

    def extra_repr(self) -> str:
        body = "pairwise" if self.pairwise else "mlp"
        return (f"{body}, particles={self.layout.num_particles}, history={self.layout.history}, "
                f"hidden={'x'.join(map(str, self.hidden))}, reference={self.context.reference}")


@frozen(kw_only=True)
class TrajectoryEnergySpec:
    """E(next state | past states, graph): an MLP, or a pairwise interaction network over particles."""

    hidden: tuple[int, ...] = field(
        default=(256, 256), converter=tuple,
        validator=[v.min_len(1), v.deep_iterable(v.and_(v.instance_of(int), v.not_(v.instance_of(bool)), v.ge(1)))],
        metadata={"help": "widths of the hidden SiLU layers (of each MLP with pairwise)"})
    pairwise: bool = field(default=False, validator=v.instance_of(bool),
                           metadata={"help": "interaction network: pair messages summed per particle, energies "
                                             "summed over particles (invariant to relabelling)"})
    reference: Literal["extrapolate", "last"] = field(
        default="extrapolate", validator=v.in_(REFERENCES),
        metadata={"help": "the next state enters as its residual from the linear extrapolation of the last two "
                          "states, or from the last state"})
    squash: bool = field(default=True, validator=v.instance_of(bool),
                         metadata={"help": "asinh of the scaled residual: linear for typical steps, "
                                           "logarithmic for bounces"})
    spectral_norm: bool = field(default=False, validator=v.instance_of(bool),
                                metadata={"help": "spectrally normalise every layer but the head (as the "
                                                  "spectral_norm regularizer does)"})

    def build(self, ctx: Any) -> TrajectoryEnergy:
        data = trajectory_data(ctx.data, "trajectory_mlp energy")
        energy = TrajectoryEnergy(data.layout, data.scales(), hidden=self.hidden, pairwise=self.pairwise,
                                  reference=self.reference, squash=self.squash)
        if self.spectral_norm:
            energy = energyflow.SpectralNorm().prepare(energy)
        return energy.to(ctx.device)
