"""Contrastive divergence: the one update rule every task trains with."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch

from energyflow.buffers.replay import ReplayBuffer
from energyflow.core.energy import Energy
from energyflow.regularizers.base import CDBatch, Regularizer
from energyflow.samplers.base import Sampler
from energyflow.samplers.starts import bind_labels
from energyflow.training.ranks import (
    average_gradients,
    average_stats,
    broadcast_parameters,
    in_world,
)
from energyflow.training.stats import StepStats, step_stats, with_gap


class ContrastiveDivergence:
    """Trains an energy by contrastive divergence with chains kept in a replay buffer.

    Each step draws chain starts from the buffer, runs the sampler, and minimises
    ``mean E(x+) - mean E(x-)`` plus the regularizers' terms with Adam, then pushes the
    negatives back. Conditional training binds ``labels`` to the energy as ``label_key``
    and draws chain starts by label when the buffer is per class.

    Args:
        energy: the energy to train; each regularizer's ``prepare`` is applied to it here, the one
            place it runs (use `ContrastiveDivergence.energy` afterwards).
        sampler: draws the negatives.
        buffer: the replay buffer of chain states.
        regularizers: extra loss terms and energy transformations.
        lr, betas, weight_decay: Adam settings (IGEBM: betas (0.0, 0.999)).
        grad_clip: clip the parameter gradient's global norm; ``None`` for no clipping.
        ema_decay: keep an exponential moving average of the weights for sampling (buffers are copied).
        label_key: the context name labels are passed under.
    """

    def __init__(
        self,
        energy: Energy,
        sampler: Sampler,
        buffer: ReplayBuffer,
        regularizers: Sequence[Regularizer] = (),
        *,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.0, 0.999),
        weight_decay: float = 0.0,
        grad_clip: float | None = None,
        ema_decay: float | None = None,
        label_key: str = "y",
    ):
        for reg in regularizers:
            energy = reg.prepare(energy)
        self.energy = energy
        self.sampler = sampler
        self.buffer = buffer
        self.regularizers = tuple(regularizers)
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.label_key = label_key
        if in_world() > 1:  # torchrun: every rank starts from rank 0's weights
            broadcast_parameters(energy.parameters())
        self.optimizer = torch.optim.Adam(energy.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
        self.ema = copy.deepcopy(energy).requires_grad_(False) if ema_decay is not None else None
        self.step_count = 0
        self.last_stats: StepStats = {}

    @property
    def sampling_energy(self) -> Energy:
        """The energy to sample from after training: the EMA copy if kept, else the energy."""
        return self.ema if self.ema is not None else self.energy

    def bind(self, energy: Energy, labels: torch.Tensor | None) -> Energy:
        return bind_labels(energy, labels, self.label_key)

    def step(
        self, x_pos: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> StepStats:
        """One update from a batch of data; returns loss, mean E+, mean E-, their gap, gradient norm and
        the sampler's statistics (`energyflow.training.StepStats`)."""
        device = x_pos.device
        buffer_labels = labels if self.buffer.uses_labels else None
        x0 = self.buffer.sample(x_pos.shape[0], labels=buffer_labels, generator=generator, device=device)
        energy = self.bind(self.energy, labels)
        chains = self.sampler.run(energy, x0, generator=generator, evaluate=False)
        x_neg = chains.x

        e_pos = energy(x_pos)
        e_neg = energy(x_neg)
        loss = e_pos.mean() - e_neg.mean()
        batch = CDBatch(energy=energy, x_pos=x_pos, x_neg=x_neg, e_pos=e_pos, e_neg=e_neg, sampler=self.sampler,
                        buffer=self.buffer, generator=generator)
        for reg in self.regularizers:
            term = reg.loss(batch)
            if term is not None:
                loss = loss + term

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if in_world() > 1:
            average_gradients(self.energy.parameters())
        max_norm = self.grad_clip if self.grad_clip is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.energy.parameters(), max_norm)
        self.optimizer.step()
        self._update_ema()
        self.buffer.push(x_neg, labels=buffer_labels, generator=generator)
        self.step_count += 1
        self.last_stats = step_stats(loss=float(loss.detach()), e_pos=float(e_pos.detach().mean()),
                                     e_neg=float(e_neg.detach().mean()), grad_norm=float(grad_norm),
                                     sampler=chains.stats)
        if in_world() > 1:  # the same numbers on every rank, for the divergence check and the log
            self.last_stats = average_stats(self.last_stats)
        return self.last_stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        """Average the parameters; copy the buffers (spectral norm's power-iteration vectors, whose
        sign can flip between steps, average towards zero and would blow the copy's scale up)."""
        if self.ema is None:
            return
        live = dict(self.energy.named_parameters())
        for name, avg in self.ema.named_parameters():
            avg.lerp_(live[name], 1.0 - self.ema_decay)
        buffers = dict(self.energy.named_buffers())
        for name, buffer in self.ema.named_buffers():
            buffer.copy_(buffers[name])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: energy, optimizer, buffer, EMA, step count and last step's numbers."""
        return {
            "energy": self.energy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "step_count": self.step_count,
            "last_stats": dict(self.last_stats),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.energy.load_state_dict(state["energy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step_count = int(state["step_count"])
        self.last_stats = with_gap(dict(state.get("last_stats", {})))
