"""Tests that catch wrong answers: distributions against analytic values, metrics against independent code.

Each test here was checked by putting a small deliberate bug back into a copy of the code (see the
docstrings) and seeing it fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

import energyflow as ef
from energyflow.buffers import ReplayBuffer
from energyflow.metrics import frechet_distance
from energyflow.metrics.frechet import frechet_from_stats
from energyflow.regularizers import CDBatch

RHO = 0.8
CORRELATED = ef.GaussianEnergy(torch.zeros(2), torch.tensor([[1.0, RHO], [RHO, 1.0]]))


@pytest.mark.parametrize("sampler, tol", [
    (ef.MALA(step_size=0.5, steps=400), 0.03),
    (ef.HMC(step_size=0.3, leapfrog_steps=4, steps=300), 0.03),
    (ef.Langevin(step_size=0.02, noise="ula", grad_clip=None, clamp=None, steps=600), 0.05),
], ids=["mala", "hmc", "ula"])
def test_masked_samplers_draw_the_analytic_conditional(sampler, tol):
    """x2 | x1 = 1 of a correlated Gaussian is N(rho, 1 - rho^2) = N(0.8, 0.36).

    Bug it catches: a MALA Hastings term computed before the mask is applied (variance 0.44).
    """
    observed = torch.tensor([1.0, 0.0])
    energy = CORRELATED.mask(torch.tensor([True, False]), observed)
    g = torch.Generator().manual_seed(0)
    trace = []
    sampler.sample(energy, torch.zeros(2000, 2), generator=g,
                   callback=lambda step, x: trace.append(x[:, 1].clone()) if step >= sampler.steps // 2 else None)
    free = torch.cat(trace)
    assert abs(free.mean().item() - RHO) < tol
    assert abs(free.var().item() - (1 - RHO**2)) < tol


def test_frechet_matches_scipy_sqrtm_for_non_commuting_covariances():
    """Bug it catches: tr(sqrt(C1) sqrt(C2)) in place of tr(sqrt(C1 C2)) (equal only when C1, C2 commute)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    c1, c2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    assert not np.allclose(c1 @ c2, c2 @ c1)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(scipy.linalg.sqrtm(c1 @ c2)).real
    assert frechet_from_stats(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)
    x = torch.as_tensor(rng.multivariate_normal(mu1, c1, size=500))
    y = torch.as_tensor(rng.multivariate_normal(mu2, c2, size=500))
    direct = frechet_from_stats(x.mean(0), np.cov(x.numpy().T), y.mean(0), np.cov(y.numpy().T))
    assert frechet_distance(x, y) == pytest.approx(direct, rel=1e-8)


def test_a_per_class_buffer_restarts_its_share_of_chains():
    """Bug it catches: a per-class buffer that never restarts chains from the init distribution."""
    buf = ReplayBuffer((1,), capacity=1000, reinit_prob=0.3, per_class=True, num_classes=2, init_range=(0.0, 1.0))
    buf.push(torch.full((500, 1), 5.0), labels=torch.arange(500) % 2)
    draws = buf.sample(4000, labels=torch.arange(4000) % 2, generator=torch.Generator().manual_seed(0))
    fresh = (draws < 1.0).float().mean().item()
    assert abs(fresh - 0.3) < 0.03
    assert (buf.sample(100, labels=torch.zeros(100, dtype=torch.long), reinit_prob=1.0) < 1.0).all()


class Linear(ef.Energy):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.5, -2.0]))

    def forward(self, x):
        return x @ self.w


def test_the_kl_term_differentiates_through_the_step_with_frozen_parameters():
    """E = w.x: the KL loss is w0.(x - h w) with w0 frozen, so its gradient is exactly -h w.

    Bug it catches: a KL term whose scoring parameters are not frozen (gradient x_kl - h w).
    """
    energy, h = Linear(), 0.25
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    batch = CDBatch(energy=energy, x_pos=x, x_neg=x, e_pos=energy(x), e_neg=energy(x),
                    sampler=ef.Langevin(step_size=h, grad_clip=None))
    ef.KLTerm(weight=1.0).loss(batch).backward()
    torch.testing.assert_close(energy.w.grad, -h * energy.w.detach())


def test_the_sample_task_uses_the_checkpoint_weights(tiny_recipe, tmp_path):
    """Bug it catches: a sample task that ignores the checkpoint (samples a freshly initialised energy)."""
    from energyflow.recipe import load_recipe
    from energyflow.runtime import Run

    trained = tmp_path / "trained"
    Run(load_recipe(tiny_recipe), out_dir=trained, quiet=True).execute()
    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    state["trainer"]["energy"] = {k: 3.0 * v for k, v in state["trainer"]["energy"].items()}
    torch.save(state, tmp_path / "scaled.pt")
    task = ["task={ kind = \"sample\", checkpoint = \"%s\", num_samples = 64, chain_steps = 5 }"]
    one = Run(load_recipe(trained / "recipe.toml", [task[0] % (trained / "checkpoint.pt")]), out_dir=tmp_path / "a",
              quiet=True).execute()
    other = Run(load_recipe(trained / "recipe.toml", [task[0] % (tmp_path / "scaled.pt")]), out_dir=tmp_path / "b",
                quiet=True).execute()
    assert one["energy_chains"] != pytest.approx(other["energy_chains"], rel=1e-3)
