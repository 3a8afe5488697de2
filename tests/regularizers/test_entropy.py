"""The improved-CD entropy ("repel") term and the shared differentiable sampler step."""

import pytest
import torch
from torch import nn

import energyflow as ef
from energyflow.buffers.replay import ReplayBuffer
from energyflow.regularizers import CDBatch, nearest_neighbour_entropy
from energyflow.regularizers.terms import sampler_step


class ConvEnergy(ef.Energy):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.SiLU(), nn.Linear(8, 1))

    def forward(self, x):
        return self.head(self.conv(x)).squeeze(-1)


def make_batch(energy, buffer=None, seed=0, sampler=None):
    g = torch.Generator().manual_seed(1)
    x_pos, x_neg = torch.rand(6, 1, 4, 4, generator=g), torch.rand(6, 1, 4, 4, generator=g)
    sampler = sampler or ef.Langevin(step_size=0.5, grad_clip=None, clamp=None)
    return CDBatch(energy=energy, x_pos=x_pos, x_neg=x_neg, e_pos=energy(x_pos), e_neg=energy(x_neg),
                   sampler=sampler, buffer=buffer, generator=torch.Generator().manual_seed(seed))


def filled_buffer(n=40):
    buffer = ReplayBuffer((1, 4, 4), capacity=n)
    buffer.push(torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(2)))
    return buffer


def test_nearest_neighbour_entropy_is_mean_log_distance_to_the_nearest_reference():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    reference = torch.tensor([[0.0, 1.0], [3.0, 0.0], [6.0, 8.0]])
    # nearest of (0,0): (0,1) at 1; nearest of (3,4): (3,0) at 4 (vs 5 to (6,8))
    assert nearest_neighbour_entropy(x, reference).item() == pytest.approx((0.0 + torch.log(torch.tensor(4.0)).item()) / 2)


def test_entropy_gradient_moves_samples_away_from_their_nearest_reference():
    reference = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    x = torch.tensor([[1.0, 0.5], [9.0, 9.5]], requires_grad=True)
    loss = -nearest_neighbour_entropy(x, reference)  # what EntropyTerm adds, before its weight
    (grad,) = torch.autograd.grad(loss, x)
    stepped = x.detach() - 0.1 * grad
    before = torch.cdist(x.detach(), reference).min(1).values
    after = torch.cdist(stepped, reference).min(1).values
    assert (after > before).all()
    # the descent direction is along x - nearest reference
    away = x.detach() - reference[torch.cdist(x.detach(), reference).argmin(1)]
    cos = torch.nn.functional.cosine_similarity(-grad, away)
    torch.testing.assert_close(cos, torch.ones(2))


def test_sampler_step_matches_a_noiseless_langevin_step_and_is_shared():
    energy = ConvEnergy()
    sampler = ef.Langevin(step_size=0.5, grad_clip=0.01, clamp=(0.0, 1.0))
    batch = make_batch(energy, sampler=sampler)
    x = batch.x_neg.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x)
    torch.testing.assert_close(sampler_step(batch), (batch.x_neg - 0.5 * g.clamp(-0.01, 0.01)).clamp(0, 1))
    assert sampler_step(batch) is sampler_step(batch)


def test_entropy_term_value_waits_for_the_buffer_and_needs_one():
    energy = ConvEnergy()
    term = ef.EntropyTerm(weight=0.3, compare=10, min_buffer=20)
    assert term.loss(make_batch(energy, filled_buffer(10))) is None
    buffer = filled_buffer(40)
    loss = term.loss(make_batch(energy, buffer, seed=5))
    reference = buffer.sample(10, generator=torch.Generator().manual_seed(5), reinit_prob=0.0)
    expected = -0.3 * nearest_neighbour_entropy(sampler_step(make_batch(energy)), reference)
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="replay buffer"):
        term.loss(make_batch(energy, None))


def test_a_parameter_step_on_the_entropy_term_spreads_the_next_sampler_step():
    energy = ConvEnergy()
    buffer = filled_buffer(40)
    term = ef.EntropyTerm(weight=1.0, compare=40, min_buffer=1)
    before = -term.loss(make_batch(energy, buffer, seed=3)).item()
    loss = term.loss(make_batch(energy, buffer, seed=3))
    loss.backward()
    with torch.no_grad():
        for p in energy.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    after = -term.loss(make_batch(energy, buffer, seed=3)).item()
    assert after > before + 1e-4
