"""The contrastive-divergence trainer: the update rule, conditioning, EMA and resumable state."""

import copy

import pytest
import torch
from torch import nn

import energyflow as ef


class LearnableGaussian(ef.Energy):
    """E(x) = (x - mu)^2 / (2 sigma^2), with mu and log sigma learned."""

    def __init__(self):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(1))
        self.log_sigma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return ((x - self.mu) ** 2 / (2 * torch.exp(2 * self.log_sigma))).sum(-1)


def trainer_for(energy, **kwargs):
    sampler = ef.Langevin(steps=20, step_size=0.05, noise="ula", grad_clip=None, clamp=None)
    buffer = ef.ReplayBuffer((1,), capacity=1000, init_range=(-3.0, 3.0))
    return ef.ContrastiveDivergence(energy, sampler, buffer, lr=kwargs.pop("lr", 0.02), betas=(0.5, 0.999), **kwargs)


def test_contrastive_divergence_recovers_a_gaussian():
    g = torch.Generator().manual_seed(0)
    energy = LearnableGaussian()
    cd = trainer_for(energy)
    for _ in range(400):
        cd.step(2.0 + 0.5 * torch.randn(256, 1, generator=g), generator=g)
    assert abs(energy.mu.item() - 2.0) < 0.15
    assert abs(energy.log_sigma.exp().item() - 0.5) < 0.1


def test_step_record_and_side_effects():
    torch.manual_seed(0)  # the L2 check below holds for small initial energies; a seed makes it one network
    energy = ef.MLPEnergy(2, hidden=(16,))
    before = copy.deepcopy(energy.state_dict())
    cd = ef.ContrastiveDivergence(energy, ef.Langevin(steps=3, clamp=(-1.0, 1.0)), ef.ReplayBuffer((2,), capacity=50),
                                  [ef.L2Energy()])
    record = cd.step(torch.rand(8, 2), generator=torch.Generator().manual_seed(0))
    assert set(record) == {"loss", "e_pos", "e_neg", "gap", "grad_norm"}  # e_neg is the samples' energy
    assert record["gap"] == record["e_neg"] - record["e_pos"]
    assert cd.last_stats == record
    torch.testing.assert_close(record["loss"], record["e_pos"] - record["e_neg"] + record["e_pos"] ** 2 + record["e_neg"] ** 2,
                               atol=0.05, rtol=0)  # L2 of means is close to mean of squares for tiny energies
    assert len(cd.buffer) == 8 and cd.step_count == 1
    assert any(not torch.equal(before[k], v) for k, v in energy.state_dict().items())
    assert cd.optimizer.param_groups[0]["betas"] == (0.0, 0.999)


def test_conditional_training_binds_labels_and_fills_per_class_buffer():
    energy = ef.MLPEnergy(2, hidden=(16,), num_classes=3)
    buffer = ef.ReplayBuffer((2,), capacity=30, per_class=True, num_classes=3)
    cd = ef.ContrastiveDivergence(energy, ef.Langevin(steps=2), buffer)
    labels = torch.tensor([0, 0, 2, 2])
    cd.step(torch.rand(4, 2), labels=labels, generator=torch.Generator().manual_seed(0))
    assert [store.size for store in buffer.stores] == [2, 0, 2]


def test_ema_lags_the_weights():
    energy = ef.MLPEnergy(2, hidden=(8,))
    cd = ef.ContrastiveDivergence(energy, ef.Langevin(steps=2), ef.ReplayBuffer((2,)), lr=0.01, ema_decay=0.9)
    start = copy.deepcopy(energy.head.weight.detach())
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        cd.step(torch.rand(8, 2, generator=g), generator=g)
    live, avg = energy.head.weight.detach(), cd.sampling_energy.head.weight.detach()
    assert cd.sampling_energy is cd.ema
    assert (avg - start).norm() < (live - start).norm()
    assert not torch.equal(avg, start)


def test_ema_copies_spectral_norms_power_iteration_vectors():
    # u and v may flip sign between steps (sigma = u.W.v does not change); averaged they tend to zero and the
    # average's sigma with them, so an eval-mode copy would scale its weights without bound
    energy = ef.MLPEnergy(2, hidden=(8,))
    torch.nn.utils.parametrizations.spectral_norm(energy.head)
    cd = ef.ContrastiveDivergence(energy, ef.Langevin(steps=2), ef.ReplayBuffer((2,)), lr=0.01, ema_decay=0.5)
    energy.head.parametrizations.weight[0]._u.neg_()
    energy.head.parametrizations.weight[0]._v.neg_()
    cd._update_ema()
    x = torch.rand(5, 2)
    torch.testing.assert_close(cd.ema.eval()(x), energy.eval()(x))


def test_state_dict_resumes_identically():
    def make():
        torch.manual_seed(0)
        return ef.ContrastiveDivergence(ef.MLPEnergy(2, hidden=(8,)), ef.Langevin(steps=2),
                                        ef.ReplayBuffer((2,), capacity=40), ema_decay=0.5)

    data = torch.rand(6, 8, 2, generator=torch.Generator().manual_seed(1))
    straight, g = make(), torch.Generator().manual_seed(2)
    records = [straight.step(batch, generator=g) for batch in data]

    first, g = make(), torch.Generator().manual_seed(2)
    for batch in data[:3]:
        first.step(batch, generator=g)
    state, g_state = copy.deepcopy(first.state_dict()), g.get_state()
    resumed = make()
    resumed.load_state_dict(state)
    g = torch.Generator()
    g.set_state(g_state)
    assert [resumed.step(batch, generator=g) for batch in data[3:]] == records[3:]
    assert resumed.step_count == 6


@pytest.mark.parametrize("kwargs, message", [
    ({"betas": (1.5, 0.9)}, "'betas' must be < 1.0: 1.5"),
    ({"iterations": -1}, "'iterations' must be >= 0"),
    ({"lr": 0.0}, "'lr' must be > 0"),
])
def test_train_spec_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ef.TrainSpec(**kwargs)


def test_gradient_norm_is_the_number_clip_grad_norm_returns():
    from energyflow.training.trainer import gradient_norm

    torch.manual_seed(0)
    params = [nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(3)), nn.Parameter(torch.randn(2))]
    for p in params[:2]:
        p.grad = torch.randn_like(p)
    expected = torch.nn.utils.clip_grad_norm_(params, float("inf"))
    assert torch.equal(gradient_norm(params), expected) and float(expected) > 0  # params[2] has no grad
    mixed = [*params, nn.Parameter(torch.randn(4, dtype=torch.float64))]
    mixed[-1].grad = torch.randn_like(mixed[-1])  # mixed dtypes take torch's general path
    assert torch.equal(gradient_norm(mixed), torch.nn.utils.clip_grad_norm_(mixed, float("inf")))
    assert float(gradient_norm(params[2:])) == 0.0
