"""MALA with uniform jumps: chains started in one mode find the right share of each separated mode."""

from __future__ import annotations

import math

import pytest
import torch

import energyflow as ef

WEIGHTS, CENTRES, STD = (0.7, 0.3), (-2.0, 2.0), 0.15  # two modes with ~90 nats of barrier between them


def _mixture() -> ef.Energy:
    def energy(x: torch.Tensor) -> torch.Tensor:
        per_mode = torch.stack([math.log(w) - (x[:, 0] - c) ** 2 / (2 * STD**2) for w, c in zip(WEIGHTS, CENTRES)])
        return -torch.logsumexp(per_mode, dim=0)

    return ef.FunctionEnergy(energy)


def _share_right(jump_prob: float, steps: int = 300) -> torch.Tensor:
    sampler = ef.MALA(steps=steps, step_size=0.01, bounds=(-4.0, 4.0), jump_prob=jump_prob)
    x0 = torch.full((4000, 1), CENTRES[0])  # every chain starts in the heavier mode
    x = sampler.sample(_mixture(), x0, generator=torch.Generator().manual_seed(0))
    return (x[:, 0] > 0).float().mean()


def test_jumps_give_each_mode_its_mass():
    share = float(_share_right(0.1))
    assert share == pytest.approx(WEIGHTS[1], abs=0.03)  # 4000 chains: 2.5 standard errors is about 0.018


def test_without_jumps_chains_stay_where_they_started():
    assert float(_share_right(0.0)) == 0.0


def test_within_a_mode_the_chains_keep_its_shape():
    sampler = ef.MALA(steps=300, step_size=0.01, bounds=(-4.0, 4.0), jump_prob=0.1)
    x = sampler.sample(_mixture(), torch.full((4000, 1), CENTRES[0]), generator=torch.Generator().manual_seed(1))
    left = x[x[:, 0] < 0, 0]
    assert float(left.mean()) == pytest.approx(CENTRES[0], abs=0.02)
    assert float(left.std()) == pytest.approx(STD, rel=0.1)


def test_jumps_need_bounds():
    with pytest.raises(ValueError, match="set bounds"):
        ef.MALA(jump_prob=0.1)
