"""Replay buffer: restarts, policies, per-class storage, uint8 storage and state round trips."""

import pytest
import torch

from energyflow.buffers import ReplayBuffer, ReplayBufferSpec
from energyflow.data import TensorData
from energyflow.registry import BuildContext


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_empty_buffer_draws_from_the_init_range():
    buf = ReplayBuffer((3,), init_range=(-2.0, 2.0))
    x = buf.sample(5000, generator=gen())
    assert x.shape == (5000, 3) and x.min() >= -2 and x.max() <= 2
    assert abs(x.mean().item()) < 0.05 and len(buf) == 0


def test_reinit_fraction_matches_reinit_prob():
    buf = ReplayBuffer((1,), capacity=100, reinit_prob=0.2, init_range=(0.0, 1.0))
    buf.push(torch.full((100, 1), 5.0))
    x = buf.sample(20000, generator=gen())
    fresh = (x < 1.0).float().mean().item()
    assert abs(fresh - 0.2) < 0.01
    assert torch.all(x[x >= 1.0] == 5.0)
    assert torch.all(buf.sample(1000, generator=gen(), reinit_prob=0.0) == 5.0)


def test_fifo_replaces_the_oldest():
    buf = ReplayBuffer((1,), capacity=4, reinit_prob=0.0)
    buf.push(torch.arange(6.0).view(-1, 1))
    assert sorted(buf.stores[0].data.view(-1).tolist()) == [2.0, 3.0, 4.0, 5.0]
    assert len(buf) == 4


def test_reservoir_keeps_a_uniform_sample_of_everything_seen():
    kept = torch.zeros(100)
    for seed in range(200):
        buf = ReplayBuffer((1,), capacity=10, policy="reservoir")
        g = gen(seed)
        for chunk in torch.arange(100.0).view(10, 10, 1):
            buf.push(chunk, generator=g)
        kept[buf.stores[0].data.view(-1).long()] += 1
    early, late = kept[:50].sum(), kept[50:].sum()
    assert abs(early / (early + late) - 0.5) < 0.05  # FIFO would keep only the last 10


def test_per_class_draws_by_label():
    buf = ReplayBuffer((2,), capacity=20, reinit_prob=0.0, per_class=True, num_classes=2, init_range=(0.0, 1.0))
    buf.push(torch.full((5, 2), 3.0), labels=torch.zeros(5, dtype=torch.long))
    buf.push(torch.full((5, 2), 7.0), labels=torch.ones(5, dtype=torch.long))
    labels = torch.tensor([0, 1, 1, 0, 1])
    x = buf.sample(5, labels=labels, generator=gen())
    assert torch.equal(x[:, 0], torch.where(labels == 0, 3.0, 7.0))
    with pytest.raises(ValueError, match="per_class buffer needs labels="):
        buf.sample(2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\), got 0..5"):
        buf.sample(2, labels=torch.tensor([0, 5]))


def test_uint8_storage_quantises_within_the_range():
    buf = ReplayBuffer((4,), capacity=10, reinit_prob=0.0, storage="uint8", init_range=(-1.0, 1.0))
    x = torch.rand(10, 4, generator=gen()) * 2 - 1
    buf.push(x)
    assert buf.stores[0].data.dtype == torch.uint8
    out = buf.sample(10, generator=gen())
    stored = torch.cat([x, out]).unique(dim=0)
    assert out.min() >= -1 and out.max() <= 1
    assert (out.unsqueeze(1) - x.unsqueeze(0)).abs().amax(-1).min(1).values.max() <= 1.0 / 255 + 1e-6
    assert stored.shape[0] > 10  # values were quantised, not stored exactly


def test_state_dict_round_trip():
    buf = ReplayBuffer((2,), capacity=8, per_class=True, num_classes=2)
    buf.push(torch.randn(6, 2, generator=gen()), labels=torch.tensor([0, 1, 0, 1, 0, 1]))
    other = ReplayBuffer((2,), capacity=8, per_class=True, num_classes=2)
    other.load_state_dict(buf.state_dict())
    labels = torch.tensor([1, 0, 1])
    assert torch.equal(buf.sample(3, labels=labels, generator=gen(4)), other.sample(3, labels=labels, generator=gen(4)))
    assert len(other) == 6


def test_bad_arguments():
    with pytest.raises(ValueError, match="reinit_prob must be in \\[0, 1\\], got 1.5"):
        ReplayBuffer((1,), reinit_prob=1.5)
    with pytest.raises(ValueError, match="policy must be one of"):
        ReplayBuffer((1,), policy="lifo")
    with pytest.raises(ValueError, match="per_class=True needs num_classes"):
        ReplayBuffer((1,), per_class=True)
    with pytest.raises(ValueError, match=r"expected samples of shape \(3,\), got \(2,\)"):
        ReplayBuffer((3,)).push(torch.zeros(4, 2))


def test_spec_builds_from_the_data():
    data = TensorData(name="t", train=torch.zeros(10, 1, 4, 4), test=torch.zeros(2, 1, 4, 4),
                      train_labels=torch.zeros(10, dtype=torch.long), num_classes=3, value_range=(-1.0, 1.0))
    buf = ReplayBufferSpec(per_class=True, capacity=30, storage="uint8").build(BuildContext(data=data))
    assert buf.sample_shape == (1, 4, 4) and len(buf.stores) == 3 and buf.init_range == (-1.0, 1.0)
