"""Contrastive divergence: the one update rule every task trains with."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow.buffers.replay import ReplayBuffer
from energyflow.chains import bind_labels
from energyflow.core.energy import Energy
from energyflow.distributed import (
    average_gradients,
    average_stats,
    broadcast_parameters,
    in_world,
)
from energyflow.regularizers.base import CDBatch, Regularizer
from energyflow.samplers.base import Sampler


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
        self.last_stats: dict[str, float] = {}

    @property
    def sampling_energy(self) -> Energy:
        """The energy to sample from after training: the EMA copy if kept, else the energy."""
        return self.ema if self.ema is not None else self.energy

    def bind(self, energy: Energy, labels: torch.Tensor | None) -> Energy:
        return bind_labels(energy, labels, self.label_key)

    def step(
        self, x_pos: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, float]:
        """One update from a batch of data; returns loss, mean E+, mean E-, gradient norm and sampler stats."""
        device = x_pos.device
        per_class_labels = labels if self.buffer.per_class else None
        x0 = self.buffer.sample(x_pos.shape[0], labels=per_class_labels, generator=generator, device=device)
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
        self.buffer.push(x_neg, labels=per_class_labels, generator=generator)
        self.step_count += 1
        self.last_stats = {
            "loss": float(loss.detach()),
            "e_pos": float(e_pos.detach().mean()),
            "e_neg": float(e_neg.detach().mean()),
            "grad_norm": float(grad_norm),
            **chains.stats,
        }
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
        self.last_stats = dict(state.get("last_stats", {}))


@frozen(kw_only=True)
class TrainSpec:
    """The ``[train]`` table: optimisation and logging settings."""

    iterations: int = field(default=1000, validator=[v.instance_of(int), v.ge(0)], metadata={"help": "training steps"})
    batch_size: int = field(default=128, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "data samples per step"})
    lr: float = field(default=1e-4, converter=float, validator=v.gt(0.0), metadata={"help": "Adam learning rate"})
    betas: tuple[float, float] = field(default=(0.0, 0.999), converter=tuple,
                                       validator=v.deep_iterable(v.and_(v.ge(0.0), v.lt(1.0)), v.instance_of(tuple)),
                                       metadata={"help": "Adam betas (IGEBM: [0.0, 0.999])"})
    weight_decay: float = field(default=0.0, converter=float, validator=v.ge(0.0), metadata={"help": "Adam weight decay"})
    grad_clip: float | None = field(default=None, validator=v.optional(v.gt(0.0)), metadata={"help": "max global gradient norm; none to disable"})
    ema_decay: float | None = field(default=None, validator=v.optional([v.ge(0.0), v.lt(1.0)]),
                                    metadata={"help": "EMA decay of weights used for sampling; none to disable"})
    log_every: int = field(default=10, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "steps between events.jsonl lines"})
    on_divergence: Literal["stop", "rollback"] = field(
        default="stop", validator=v.in_(("stop", "rollback")),
        metadata={"help": "on a non-finite step or a gap past max_gap: stop (keeping the last good checkpoint) or "
                          "roll back to it with a lower learning rate"})
    max_gap: float | None = field(default=None, validator=v.optional(v.gt(0.0)),
                                  metadata={"help": "|E(x-) - E(x+)| beyond this counts as divergence; none: only "
                                                    "non-finite numbers do"})
    max_rollbacks: int = field(default=3, validator=[v.instance_of(int), v.ge(1)],
                               metadata={"help": "rollbacks allowed before the run stops (on_divergence = rollback)"})
    rollback_lr_factor: float = field(default=0.5, converter=float, validator=[v.gt(0.0), v.lt(1.0)],
                                      metadata={"help": "learning rate multiplier applied at each rollback"})
    checkpoint_every: int = field(default=500, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "steps between checkpoints"})

    def trainer(self, energy: Energy, sampler: Sampler, buffer: ReplayBuffer, regularizers: Sequence[Regularizer] = ()):
        """A `ContrastiveDivergence` with these settings."""
        return ContrastiveDivergence(
            energy, sampler, buffer, regularizers, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay,
            grad_clip=self.grad_clip, ema_decay=self.ema_decay,
        )
