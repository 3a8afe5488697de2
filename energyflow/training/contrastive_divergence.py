"""`ContrastiveDivergence`: the trainer built with the contrastive-divergence objective (IGEBM)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from energyflow.buffers.replay import ReplayBuffer
from energyflow.core.energy import Energy
from energyflow.regularizers.base import Regularizer
from energyflow.samplers.base import Sampler
from energyflow.training.objectives.cd import Contrastive
from energyflow.training.trainer import Trainer


class ContrastiveDivergence(Trainer):
    """Trains an energy by contrastive divergence with chains kept in a replay buffer.

    Each step draws chain starts from the buffer, runs the sampler, and minimises
    ``mean E(x+) - mean E(x-)`` plus the regularizers' terms with Adam, then pushes the
    negatives back. Conditional training binds ``labels`` to the energy as ``label_key``
    and draws chain starts by label when the buffer is per class. The same as
    ``Trainer(energy, Contrastive(sampler, buffer), regularizers, ...)``.

    Args:
        energy: the energy to train (see `Trainer`).
        sampler: draws the negatives.
        buffer: the replay buffer of chain states.
        regularizers: extra loss terms and energy transformations.
        **options: the `Trainer`'s keyword arguments (``lr``, ``betas``, ``weight_decay``,
            ``grad_clip``, ``ema_decay``, ``label_key``).
    """

    def __init__(self, energy: Energy, sampler: Sampler, buffer: ReplayBuffer,
                 regularizers: Sequence[Regularizer] = (), **options: Any):
        super().__init__(energy, Contrastive(sampler, buffer), regularizers, **options)
