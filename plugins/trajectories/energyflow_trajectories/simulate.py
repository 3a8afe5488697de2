"""A seeded simulator of interacting particles in a 2-D box, after the NRI data (Kipf et al. 2018).

Each particle has a position and a velocity; a state is ``(N, 4)`` = ``[x, y, vx, vy]`` per
particle. Particles bounce elastically off the walls of the box ``[-box, box]^2``, may be joined
by springs (Hooke's law, one constant for every spring) and may carry charges of +-1 (Coulomb
forces, like charges repel). The integrator is velocity Verlet (leapfrog), ``substeps`` steps of
``dt`` per observed state, so a trajectory's observed time step is ``dt * substeps``.
"""

from __future__ import annotations

import torch
from attrs import field, frozen
from attrs import validators as v

_pos = v.gt(0.0)
_share = [v.ge(0.0), v.le(1.0)]


@frozen(kw_only=True)
class ParticleSystem:
    """The physics of one family of trajectories (interaction graphs differ per trajectory).

    Attributes:
        num_particles: particles per system.
        box: walls at +-box on both axes.
        spring_prob: chance that a pair is joined by a spring (0: no springs).
        spring_constant: Hooke constant of every spring.
        charge_prob: chance that a particle is charged +-1 (0: no charges); uncharged ones are 0.
        charge_strength: Coulomb constant.
        max_force: per-component force clip, NRI's 0.1 / 0.001 (none: no clip).
        loc_std: standard deviation of the initial positions.
        vel_norm: speed of every particle at the start (random directions).
        dt: integration step.
        substeps: integration steps per observed state.
    """

    num_particles: int = field(default=5, validator=[v.instance_of(int), v.ge(1)],
                               metadata={"help": "particles per system"})
    box: float = field(default=5.0, converter=float, validator=_pos,
                       metadata={"help": "walls at +-box on both axes (elastic bounces)"})
    spring_prob: float = field(default=0.5, converter=float, validator=_share,
                               metadata={"help": "chance that a pair is joined by a spring (0: no springs)"})
    spring_constant: float = field(default=0.1, converter=float, validator=v.ge(0.0),
                                   metadata={"help": "Hooke constant of every spring"})
    charge_prob: float = field(default=0.0, converter=float, validator=_share,
                               metadata={"help": "chance that a particle carries a charge of +-1 (0: no charges)"})
    charge_strength: float = field(default=1.0, converter=float, validator=v.ge(0.0),
                                   metadata={"help": "Coulomb constant (like charges repel)"})
    max_force: float | None = field(default=100.0, validator=v.optional(_pos),
                                    metadata={"help": "clip each force component to +-max_force, as NRI does "
                                                      "(0.1 / its dt): charges that meet would fly apart "
                                                      "unboundedly; none: no clip"})
    loc_std: float = field(default=0.5, converter=float, validator=v.ge(0.0),
                           metadata={"help": "standard deviation of the initial positions"})
    vel_norm: float = field(default=0.5, converter=float, validator=v.ge(0.0),
                            metadata={"help": "initial speed of every particle (random directions)"})
    dt: float = field(default=0.01, converter=float, validator=_pos,
                      metadata={"help": "integration step (velocity Verlet)"})
    substeps: int = field(default=10, validator=[v.instance_of(int), v.ge(1)],
                          metadata={"help": "integration steps per observed state"})

    @property
    def step_time(self) -> float:
        """Time between two observed states."""
        return self.dt * self.substeps

    # ------------------------------------------------------------------ graphs
    def draw_graph(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Springs ``(n, N, N)`` (symmetric 0/1, zero diagonal) and charges ``(n, N)`` in {-1, 0, 1}."""
        count = self.num_particles
        links = (torch.rand((n, count, count), generator=generator) < self.spring_prob).float()
        springs = torch.triu(links, diagonal=1)
        springs = springs + springs.transpose(1, 2)
        charged = torch.rand((n, count), generator=generator) < self.charge_prob
        signs = torch.where(torch.rand((n, count), generator=generator) < 0.5, -1.0, 1.0)
        return springs, torch.where(charged, signs, torch.zeros(()))

    def initial_states(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, N, 4)`` starts: Gaussian positions inside the box, speed ``vel_norm`` in random directions."""
        loc = (self.loc_std * torch.randn((n, self.num_particles, 2), generator=generator, dtype=torch.float64))
        loc = loc.clamp(-0.99 * self.box, 0.99 * self.box)
        vel = torch.randn((n, self.num_particles, 2), generator=generator, dtype=torch.float64)
        vel = self.vel_norm * vel / vel.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return torch.cat([loc, vel], dim=-1)

    # ------------------------------------------------------------------ physics
    def forces(self, loc: torch.Tensor, springs: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        """Forces ``(..., N, 2)`` at positions ``loc`` (unit masses, so also accelerations)."""
        diff = loc[..., :, None, :] - loc[..., None, :, :]  # x_i - x_j
        force = -self.spring_constant * (springs.to(loc)[..., None] * diff).sum(-2)
        if self.charge_prob > 0:
            q = charges.to(loc)
            dist3 = diff.norm(dim=-1).pow(3) + torch.eye(loc.shape[-2], dtype=loc.dtype) * 1e30
            coupling = self.charge_strength * q[..., :, None] * q[..., None, :] / dist3
            force = force + (coupling[..., None] * diff).sum(-2)
        if self.max_force is not None:
            force = force.clamp(-self.max_force, self.max_force)
        return force

    def potential(self, loc: torch.Tensor, springs: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        """Potential energy ``(...,)``: springs ``k/2 |x_i - x_j|^2`` and Coulomb ``c q_i q_j / r``, per pair."""
        diff = loc[..., :, None, :] - loc[..., None, :, :]
        sq = diff.pow(2).sum(-1)
        energy = 0.25 * self.spring_constant * (springs.to(loc) * sq).sum((-1, -2))  # each pair counted twice
        if self.charge_prob > 0:
            q = charges.to(loc)
            inv = 1.0 / (sq.sqrt() + torch.eye(loc.shape[-2], dtype=loc.dtype) * 1e30)
            energy = energy + 0.5 * self.charge_strength * (q[..., :, None] * q[..., None, :] * inv).sum((-1, -2))
        return energy

    def total_energy(self, states: torch.Tensor, springs: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        """Kinetic plus potential energy of states ``(..., N, 4)``; graphs broadcast from the left."""
        kinetic = 0.5 * states[..., 2:].pow(2).sum((-1, -2))
        return kinetic + self.potential(states[..., :2], springs, charges)

    def _walls(self, loc: torch.Tensor, vel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reflect positions past a wall back inside and point their velocity inwards (elastic)."""
        b = self.box
        over, under = loc > b, loc < -b
        loc = torch.where(over, 2 * b - loc, torch.where(under, -2 * b - loc, loc))
        vel = torch.where(over, -vel.abs(), torch.where(under, vel.abs(), vel))
        return loc.clamp(-b, b), vel

    def simulate(self, start: torch.Tensor, springs: torch.Tensor, charges: torch.Tensor, steps: int) -> torch.Tensor:
        """Observed trajectories ``(n, steps, N, 4)`` from starts ``(n, N, 4)`` (the start is state 0)."""
        start = start.to(torch.float64)
        loc, vel = start[..., :2], start[..., 2:]
        springs, charges = springs.to(torch.float64), charges.to(torch.float64)
        out = [start]
        force = self.forces(loc, springs, charges)
        for _ in range(steps - 1):
            for _ in range(self.substeps):
                vel = vel + 0.5 * self.dt * force
                loc, vel = self._walls(loc + self.dt * vel, vel)
                force = self.forces(loc, springs, charges)
                vel = vel + 0.5 * self.dt * force
            out.append(torch.cat([loc, vel], dim=-1))
        return torch.stack(out, dim=1)

    def trajectories(self, n: int, steps: int, generator: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` fresh trajectories ``(n, steps, N, 4)`` (float32) with their springs and charges."""
        springs, charges = self.draw_graph(n, generator)
        paths = self.simulate(self.initial_states(n, generator), springs, charges, steps)
        return paths.float(), springs, charges
