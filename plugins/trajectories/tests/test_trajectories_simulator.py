"""The particle simulator and the (context -> next state) dataset built from it."""

from __future__ import annotations

import pytest
import torch
from energyflow_trajectories.data import (
    ContextLayout,
    ParticlesSpec,
    Scales,
    reference,
    windows,
)
from energyflow_trajectories.simulate import ParticleSystem

from energyflow import BuildContext


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_elastic_walls_keep_particles_in_the_box_and_speeds_unchanged():
    system = ParticleSystem(num_particles=4, box=1.0, spring_prob=0.0, vel_norm=3.0, loc_std=0.5)
    paths, _, _ = system.trajectories(16, 60, _gen())
    assert paths[..., :2].abs().max() <= 1.0  # 3 units of travel per time unit: many bounces
    bounced = (paths[:, 1:, :, 2:] * paths[:, :-1, :, 2:] < 0).any()
    assert bounced, "no particle ever hit a wall; the test would prove nothing"
    speed = paths[..., 2:].norm(dim=-1)
    torch.testing.assert_close(speed, torch.full_like(speed, 3.0), atol=1e-4, rtol=0)  # free flight + walls


def test_spring_energy_is_conserved_with_a_small_step():
    def drift(dt: float, substeps: int) -> float:
        system = ParticleSystem(num_particles=4, box=100.0, spring_prob=1.0, spring_constant=1.0, dt=dt,
                                substeps=substeps)
        paths, springs, charges = system.trajectories(8, 40, _gen(1))
        energy = system.total_energy(paths.double(), springs[:, None].double(), charges[:, None].double())
        return float(((energy - energy[:, :1]).abs() / energy[:, :1]).max())

    small, large = drift(0.001, 100), drift(0.2, 1)
    assert small < 1e-4
    assert large > 10 * small  # the check can tell a coarse integrator from a fine one


def test_like_charges_repel():
    system = ParticleSystem(num_particles=2, box=100.0, spring_prob=0.0, charge_prob=1.0, vel_norm=0.0)
    start = torch.tensor([[[-0.5, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]]])
    springs = torch.zeros(1, 2, 2)
    like = system.simulate(start, springs, torch.tensor([[1.0, 1.0]]), 4)
    unlike = system.simulate(start, springs, torch.tensor([[1.0, -1.0]]), 4)
    def gap(paths: torch.Tensor) -> float:
        return float((paths[0, -1, 0, :2] - paths[0, -1, 1, :2]).norm())

    assert gap(like) > 1.0 > gap(unlike)


def test_the_seed_fixes_the_trajectories():
    system = ParticleSystem(num_particles=3, charge_prob=0.5)
    a, b, c = (system.trajectories(4, 12, _gen(seed)) for seed in (5, 5, 6))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_dataset_pairs_each_next_state_with_its_past_and_graph():
    data = ParticlesSpec(num_particles=3, history=2, n_train=4, train_steps=7, n_test=2, test_steps=9,
                         charge_prob=0.5).build(BuildContext(generator=_gen()))
    assert data.train.shape == (4 * 5, 12) and data.test.shape == (2 * 7, 12)
    assert data.train_labels.shape == (20, data.layout.features) and data.layout.graph_features == 3 + 3
    past, graph = data.layout.split(data.train_labels)
    row = 1 * 5 + 3  # trajectory 1, next state index 2 + 3 = 5
    assert torch.equal(past[row], data.train_trajectories[1, 3:5])
    assert torch.equal(data.train[row].view(3, 4), data.train_trajectories[1, 5])
    assert torch.equal(data.layout.pair_graph(graph)[row, ..., 0], data.train_springs[1])
    q = data.train_charges[1]
    assert torch.equal(data.layout.pair_graph(graph)[row, ..., 1], q[:, None] * q[None, :])
    assert torch.equal(data.layout.last_state(data.train_labels[row : row + 1]).view(3, 4), past[row, -1])


def test_windows_and_references():
    paths = torch.arange(2 * 5 * 1 * 4, dtype=torch.float32).view(2, 5, 1, 4)
    past, nxt, owner = windows(paths, 3)
    assert past.shape == (4, 3, 1, 4) and owner.tolist() == [0, 0, 1, 1]
    assert torch.equal(nxt[3], paths[1, 4]) and torch.equal(past[3], paths[1, 1:4])
    assert torch.equal(reference(past, "extrapolate"), 2 * past[:, -1] - past[:, -2])
    assert torch.equal(reference(past, "last"), past[:, -1])
    with pytest.raises(ValueError, match="no \\(past 5 -> next\\) pair"):
        windows(paths, 5)
    layout = ContextLayout(1, 3)
    with pytest.raises(ValueError, match="expected contexts of shape"):
        layout.split(torch.zeros(2, 5))


def test_scales_follow_the_data():
    paths = torch.zeros(3, 10, 2, 4)
    paths[..., 2] = 2.0  # constant velocity: positions move 0.2 a step
    paths[..., 0] = 0.2 * torch.arange(10.0)[None, :, None]
    scales = Scales.of(paths)
    assert scales.step[2] == 0 + 1e-6 and scales.residual["extrapolate"][0] == 1e-6  # exactly linear
    assert float(scales.step[0]) > 0.05  # the x and y steps together: 0.2 and 0
