"""The energyflow plugin module of energyflow-trajectories, named by its ``energyflow`` entry point.

Registration hooks import what they register, so reading one registry never imports the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from energyflow import hookimpl

if TYPE_CHECKING:
    from energyflow import Register

__version__ = "0.1.0"


@hookimpl
def register_datasets(register: Register) -> None:
    from energyflow_trajectories.data import ParticlesSpec

    register("particles", ParticlesSpec,
             description="simulated particles in a box (springs, charges): past states -> next state")


@hookimpl
def register_energies(register: Register) -> None:
    from energyflow_trajectories.energy import TrajectoryEnergySpec

    register("trajectory_mlp", TrajectoryEnergySpec,
             description="E(next state | past states, graph): MLP or pairwise interaction network")


@hookimpl
def register_buffers(register: Register) -> None:
    from energyflow_trajectories.buffer import LastStateSpec

    register("last_state", LastStateSpec, description="chain starts at each context's (extrapolated) last state plus noise")


@hookimpl
def register_tasks(register: Register) -> None:
    from energyflow_trajectories.task import RolloutTask

    register("rollout", RolloutTask, description="long rollouts of the energy vs a regression baseline, per horizon")
