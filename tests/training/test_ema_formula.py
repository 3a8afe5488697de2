"""The trainer's weight average against the EMA formula computed independently.

Guards against ``ContrastiveDivergence``'s ``ema_decay`` average being computed wrongly, in
particular against the decay applied from the wrong side (``avg.lerp_(live, decay)``), where
the copy follows the live weights almost exactly and a run's "averaged" samples are not averaged.
"""

from __future__ import annotations

import torch

import energyflow as ef

DECAY = 0.9


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone().double() for name, p in module.named_parameters()}


def test_ema_is_decay_times_average_plus_rest_times_live_weights():
    torch.manual_seed(0)
    energy = ef.MLPEnergy(2, hidden=(8,))
    trainer = ef.ContrastiveDivergence(energy, ef.Langevin(steps=2), ef.ReplayBuffer((2,)), lr=0.05,
                                       ema_decay=DECAY)
    expected = _params(energy)  # avg_0: the initial weights
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        trainer.step(torch.rand(8, 2, generator=g), generator=g)
        live = _params(trainer.energy)
        expected = {name: DECAY * expected[name] + (1.0 - DECAY) * live[name] for name in expected}
        average = _params(trainer.ema)
        assert average.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(average[name], expected[name], rtol=1e-5, atol=1e-6,
                                       msg=lambda m, name=name: f"EMA of {name}: {m}")

    # not trivially equal: after several steps the average lags the live weights measurably
    lag = max(float((average[n] - live[n]).abs().max()) for n in live)
    assert lag > 1e-2, f"EMA is within {lag:.2e} of the live weights"
    assert trainer.sampling_energy is trainer.ema
