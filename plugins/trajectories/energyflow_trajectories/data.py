"""``kind = "particles"``: (past k states -> next state) samples from simulated particle trajectories.

The energy models the next state given the past, so the dataset's ``train`` / ``test`` hold next
states ``(M, 4N)`` and ``train_labels`` / ``test_labels`` hold their *context*: the past ``history``
states, flattened, followed (with ``graph_context``) by the interaction graph of the trajectory
(the upper triangle of the spring matrix, and the charges). The core trainer binds labels as
``y``, so the context reaches the energy as ``energy(x, y=context)``. The full trajectories,
graphs and physics stay on the `TrajectoryData` for the rollout task.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange, repeat

from energyflow import TensorData
from energyflow_trajectories.simulate import ParticleSystem

FEATURES = 4  # x, y, vx, vy per particle


@frozen
class ContextLayout:
    """How a context vector is laid out: ``history`` past states ``(N, 4)``, then the graph features.

    Attributes:
        num_particles: N.
        history: past states, oldest first.
        springs: whether the upper triangle of the spring matrix follows (``N(N-1)/2`` numbers).
        charges: whether the charges follow (``N`` numbers).
    """

    num_particles: int
    history: int
    springs: bool = False
    charges: bool = False

    @property
    def state_features(self) -> int:
        """Numbers in one flattened state, ``4N``."""
        return FEATURES * self.num_particles

    @property
    def pairs(self) -> int:
        return self.num_particles * (self.num_particles - 1) // 2

    @property
    def graph_features(self) -> int:
        """Numbers after the past states: spring pairs (with ``springs``) and charges (with ``charges``)."""
        return (self.pairs if self.springs else 0) + (self.num_particles if self.charges else 0)

    @property
    def features(self) -> int:
        """Numbers in one context."""
        return self.history * self.state_features + self.graph_features

    def make(self, past: torch.Tensor, springs: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        """Contexts ``(n, D)`` from past states ``(n, history, N, 4)``, springs ``(n, N, N)`` and charges ``(n, N)``."""
        if past.shape[1:] != (self.history, self.num_particles, FEATURES):
            raise ValueError(f"ContextLayout.make: expected past of shape (n, {self.history}, "
                             f"{self.num_particles}, {FEATURES}), got {tuple(past.shape)}")
        parts = [rearrange(past, "n k p f -> n (k p f)")]
        if self.springs:
            rows, cols = torch.triu_indices(self.num_particles, self.num_particles, offset=1)
            parts.append(springs[:, rows, cols].to(past))
        if self.charges:
            parts.append(charges.to(past))
        return torch.cat(parts, dim=1)

    def split(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Past states ``(n, history, N, 4)`` and graph features ``(n, G)`` of contexts ``(n, D)``."""
        if context.dim() != 2 or context.shape[1] != self.features:
            raise ValueError(f"ContextLayout.split: expected contexts of shape (n, {self.features}), "
                             f"got {tuple(context.shape)}")
        cut = self.history * self.state_features
        past = rearrange(context[:, :cut], "n (k p f) -> n k p f", k=self.history, p=self.num_particles)
        return past, context[:, cut:]

    def last_state(self, context: torch.Tensor) -> torch.Tensor:
        """The most recent past state of each context, flattened ``(n, 4N)``."""
        cut = self.history * self.state_features
        return context[:, cut - self.state_features : cut]

    def pair_graph(self, graph: torch.Tensor) -> torch.Tensor:
        """Per ordered pair features ``(n, N, N, G')`` from graph features ``(n, G)``: the spring of the
        pair and the product of the charges (``G'`` = 0, 1 or 2)."""
        n, count = graph.shape[0], self.num_particles
        out = []
        if self.springs:
            rows, cols = torch.triu_indices(count, count, offset=1)
            matrix = graph.new_zeros((n, count, count))
            matrix[:, rows, cols] = graph[:, : self.pairs]
            out.append(matrix + matrix.transpose(1, 2))
        if self.charges:
            q = graph[:, graph.shape[1] - count :]
            out.append(q[:, :, None] * q[:, None, :])
        return torch.stack(out, dim=-1) if out else graph.new_zeros((n, count, count, 0))


def reference(past: torch.Tensor, how: str = "extrapolate") -> torch.Tensor:
    """Where the next state is expected without a model, from past states ``(n, k, N, 4)``.

    ``"last"``: the last past state. ``"extrapolate"``: the linear extrapolation of the last two,
    ``2 * last - previous`` (the last state when ``k == 1``).
    """
    if how not in ("last", "extrapolate"):
        raise ValueError(f"reference: how must be 'last' or 'extrapolate', got {how!r}")
    last = past[:, -1]
    if how == "last" or past.shape[1] < 2:
        return last
    return 2 * last - past[:, -2]


@frozen
class Scales:
    """Per-feature scales ``(4,)`` (``[pos, pos, vel, vel]``) read off the training trajectories.

    Attributes:
        state: standard deviation of positions and velocities.
        step: standard deviation of one-step changes.
        residual: robust spread (1.4826 x median absolute value) of ``next - reference``, by reference
            (``"last"``, ``"extrapolate"``): the width of the typical step, blind to rare bounces.
        residual_std: standard deviation of ``next - reference``, by reference (bounces included).
    """

    state: torch.Tensor
    step: torch.Tensor
    residual: dict[str, torch.Tensor]
    residual_std: dict[str, torch.Tensor]

    @classmethod
    def of(cls, paths: torch.Tensor) -> Scales:
        def per_type(t: torch.Tensor, robust: bool = False) -> torch.Tensor:
            pos, vel = t[..., :2], t[..., 2:]
            spread = (lambda u: 1.4826 * u.abs().median()) if robust else (lambda u: u.std())
            return repeat(torch.stack([spread(pos), spread(vel)]).clamp_min(1e-6), "t -> (t two)", two=2).clone()

        step = paths[:, 1:] - paths[:, :-1]
        second = paths[:, 2:] - 2 * paths[:, 1:-1] + paths[:, :-2] if paths.shape[1] > 2 else step
        residuals = {"last": step, "extrapolate": second}
        return cls(per_type(paths), per_type(step), {k: per_type(r, robust=True) for k, r in residuals.items()},
                   {k: per_type(r) for k, r in residuals.items()})


@frozen(kw_only=True, eq=False)
class TrajectoryData(TensorData):
    """`TensorData` of (context -> next state) samples, with the trajectories they were cut from.

    Attributes:
        system: the physics the trajectories were simulated with.
        layout: how the contexts (the labels) are laid out.
        train_trajectories, test_trajectories: ``(n, T, N, 4)`` observed states.
        train_springs, test_springs: ``(n, N, N)`` spring matrices. train_charges, test_charges: ``(n, N)``.
    """

    system: ParticleSystem
    layout: ContextLayout
    train_trajectories: torch.Tensor
    test_trajectories: torch.Tensor
    train_springs: torch.Tensor
    test_springs: torch.Tensor
    train_charges: torch.Tensor
    test_charges: torch.Tensor

    @property
    def history(self) -> int:
        return self.layout.history

    def scales(self) -> Scales:
        """Scales of states, steps and residuals, from the training trajectories."""
        return Scales.of(self.train_trajectories)


def trajectory_data(data: Any, what: str) -> TrajectoryData:
    """``data`` if it is `TrajectoryData`, else a ``ValueError`` saying ``what`` needs it (a one-line recipe error)."""
    if getattr(data, "layout", None) is None or not hasattr(data, "test_trajectories"):
        name = "no dataset" if data is None else f"dataset {data.name!r}"
        raise ValueError(f"{what}: needs trajectory data ([data] kind = \"particles\"), got {name}")
    return data


def windows(data_paths: torch.Tensor, history: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (past, next) pair of trajectories ``(n, T, N, 4)``: past ``(M, k, N, 4)``, next ``(M, N, 4)``
    and the trajectory index of each pair ``(M,)``."""
    n, steps = data_paths.shape[:2]
    if steps <= history:
        raise ValueError(f"trajectories of {steps} states have no (past {history} -> next) pair")
    past = data_paths.unfold(1, history, 1)[:, : steps - history]  # n, T-k, N, 4, k
    past = rearrange(past, "n t p f k -> (n t) k p f")
    nxt = rearrange(data_paths[:, history:], "n t p f -> (n t) p f")
    owner = torch.arange(n).repeat_interleave(steps - history)
    return past, nxt, owner


_count = [v.instance_of(int), v.ge(1)]
PHYSICS = tuple(f.name for f in attrs.fields(ParticleSystem))


@frozen(kw_only=True)
class ParticlesSpec(ParticleSystem):
    """Interacting particles in a box (springs, charges), simulated on the fly from the run's seed."""

    history: int = field(default=2, validator=_count, metadata={"help": "past states the next one is predicted from"})
    n_train: int = field(default=500, validator=_count, metadata={"help": "training trajectories"})
    train_steps: int = field(default=110, validator=[v.instance_of(int), v.ge(2)],
                             metadata={"help": "observed states per training trajectory"})
    n_test: int = field(default=200, validator=_count, metadata={"help": "test trajectories (rollout starts)"})
    test_steps: int = field(default=110, validator=[v.instance_of(int), v.ge(2)],
                            metadata={"help": "observed states per test trajectory (history + rollout horizon)"})
    graph_context: bool = field(default=True, validator=v.instance_of(bool),
                                metadata={"help": "append each trajectory's springs and charges to the context"})

    def physics(self) -> ParticleSystem:
        return ParticleSystem(**{name: getattr(self, name) for name in PHYSICS})

    def build(self, ctx: Any) -> TrajectoryData:
        for name, steps in (("train_steps", self.train_steps), ("test_steps", self.test_steps)):
            if steps <= self.history:
                raise ValueError(f"particles: {name} = {steps} leaves no next state after history = {self.history}")
        system = self.physics()
        layout = ContextLayout(self.num_particles, self.history, springs=self.graph_context and self.spring_prob > 0,
                               charges=self.graph_context and self.charge_prob > 0)
        parts: dict[str, Any] = {}
        for split in ("train", "test"):
            count, steps = getattr(self, f"n_{split}"), getattr(self, f"{split}_steps")
            paths, springs, charges = system.trajectories(count, steps, ctx.generator)
            past, nxt, owner = windows(paths, self.history)
            parts.update({split: rearrange(nxt, "m p f -> m (p f)"),
                          f"{split}_labels": layout.make(past, springs[owner], charges[owner]),
                          f"{split}_trajectories": paths, f"{split}_springs": springs, f"{split}_charges": charges})
        reach = max(self.box, float(parts["train_trajectories"].abs().max()))
        return TrajectoryData(name="particles", system=system, layout=layout, value_range=(-reach, reach),
                              kind="points", **parts)
