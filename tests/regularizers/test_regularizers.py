"""Regularizers: the L2 term, spectral norm placement, gradient penalty and the KL term."""

import torch
from torch import nn
from torch.nn.utils import parametrize

import energyflow as ef
from energyflow.regularizers import CDBatch


class ConvEnergy(ef.Energy):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.SiLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.body(self.conv(x))).squeeze(-1)


def batch_for(energy, sampler=None):
    g = torch.Generator().manual_seed(0)
    x_pos, x_neg = torch.rand(6, 1, 4, 4, generator=g), torch.rand(6, 1, 4, 4, generator=g)
    return CDBatch(energy=energy, x_pos=x_pos, x_neg=x_neg, e_pos=energy(x_pos), e_neg=energy(x_neg),
                   sampler=sampler or ef.Langevin(step_size=1.0, grad_clip=None))


def test_l2_energy_is_weighted_mean_square():
    energy = ConvEnergy()
    batch = batch_for(energy)
    expected = 0.5 * (batch.e_pos.pow(2).mean() + batch.e_neg.pow(2).mean())
    torch.testing.assert_close(ef.L2Energy(weight=0.5).loss(batch), expected)


def test_spectral_norm_wraps_everything_but_the_head():
    energy = ef.SpectralNorm().prepare(ConvEnergy())
    assert parametrize.is_parametrized(energy.conv, "weight")
    assert parametrize.is_parametrized(energy.body[1], "weight")
    assert not parametrize.is_parametrized(energy.head, "weight")
    ef.SpectralNorm().prepare(energy)  # idempotent
    assert len(energy.conv.parametrizations.weight) == 1
    for _ in range(20):  # power iteration converges in training mode
        energy(torch.rand(2, 1, 4, 4))
    sigma = torch.linalg.matrix_norm(energy.body[1].weight.detach(), ord=2)
    assert abs(sigma.item() - 1.0) < 0.05


def test_grad_penalty_matches_autograd():
    energy = ConvEnergy()
    batch = batch_for(energy)
    x = batch.x_pos.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x)
    expected = 0.1 * g.flatten(1).pow(2).sum(1).mean()
    loss = ef.GradPenalty(weight=0.1).loss(batch)
    torch.testing.assert_close(loss, expected)
    loss.backward()  # differentiable in the parameters (double backward)
    assert energy.head.weight.grad is not None


def test_kl_term_flows_through_the_sampler_step_only():
    energy = ConvEnergy()
    batch = batch_for(energy, ef.Langevin(step_size=0.5, grad_clip=None))
    loss = ef.KLTerm(weight=1.0).loss(batch)
    x = batch.x_neg.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x)
    torch.testing.assert_close(loss, energy(batch.x_neg - 0.5 * g).mean())
    loss.backward()
    # The head enters only through the frozen evaluation and through dE/dx of the step; it still
    # gets a gradient, via the step. Compare with the gradient of the plain energy to see they differ.
    kl_grad = energy.head.weight.grad.clone()
    energy.zero_grad()
    energy(batch.x_neg - 0.5 * g).mean().backward()
    assert not torch.allclose(kl_grad, energy.head.weight.grad)


def test_shrink_only_spectral_norm_caps_large_layers_and_keeps_small_ones():
    energy = ConvEnergy()
    with torch.no_grad():
        energy.conv.weight.mul_(1e-6)
        energy.body[1].weight.mul_(100.0)
    before = torch.linalg.matrix_norm(energy.conv.weight.detach().flatten(1), ord=2)
    ef.SpectralNorm(shrink_only=True).prepare(energy)
    for _ in range(20):
        energy(torch.rand(2, 1, 4, 4))
    assert abs(torch.linalg.matrix_norm(energy.body[1].weight.detach(), ord=2).item() - 1.0) < 0.05
    after = torch.linalg.matrix_norm(energy.conv.weight.detach().flatten(1), ord=2)
    torch.testing.assert_close(after, before, rtol=1e-3, atol=0)
