"""The trainer: one update rule for every objective (optimizer, regularizers, torchrun, EMA, state)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from energyflow.core.energy import Energy
from energyflow.regularizers.base import Regularizer
from energyflow.samplers.starts import bind_labels
from energyflow.training.objectives.base import Objective
from energyflow.training.ranks import (
    average_gradients,
    average_stats,
    broadcast_parameters,
    in_world,
)
from energyflow.training.stats import StepStats, step_stats, with_gap


def gradient_norm(params: Sequence[torch.nn.Parameter]) -> torch.Tensor:
    """The global 2-norm of the parameters' gradients, the number `torch.nn.utils.clip_grad_norm_` returns.

    One fused per-tensor norm and a norm over those when all gradients share a device and dtype (the
    common case, a few times cheaper than the general path); `torch.nn.utils.get_total_norm` otherwise.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    first = grads[0]
    if any(g.device != first.device or g.dtype != first.dtype for g in grads):
        return torch.nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    """Trains an energy by an objective with Adam: the objective forms the loss, the trainer does the rest.

    Each step binds the batch's labels, asks the objective for its loss, adds the regularizers'
    terms, takes the Adam step (gradients averaged over torchrun's processes, clipped), updates
    the EMA copy and lets the objective finish (contrastive divergence pushes its chains).

    Args:
        energy: the energy to train; each regularizer's ``prepare`` is applied to it here, the one
            place it runs (use `Trainer.energy` afterwards).
        objective: forms the loss (`energyflow.training.objectives`); its own parameters, if any,
            are trained with the energy.
        regularizers: extra loss terms and energy transformations.
        lr, betas, weight_decay: Adam settings (IGEBM: betas (0.0, 0.999)).
        grad_clip: clip the parameter gradient's global norm; ``None`` for no clipping.
        ema_decay: keep an exponential moving average of the weights for sampling (buffers are copied).
        label_key: the context name labels are passed under.
    """

    def __init__(
        self,
        energy: Energy,
        objective: Objective,
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
        self.objective = objective
        self.regularizers = tuple(regularizers)
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.label_key = label_key
        self.params = [*energy.parameters(), *objective.parameters()]
        if in_world() > 1:  # torchrun: every rank starts from rank 0's weights
            broadcast_parameters(self.params)
        self.optimizer = torch.optim.Adam(self.params, lr=lr, betas=betas, weight_decay=weight_decay)
        self.ema = copy.deepcopy(energy).requires_grad_(False) if ema_decay is not None else None
        self.step_count = 0
        self.last_stats: StepStats = {}

    @property
    def sampler(self) -> Any:
        """The objective's sampler (``None`` for objectives that draw no samples)."""
        return self.objective.sampler

    @property
    def buffer(self) -> Any:
        """The objective's replay buffer (``None`` for objectives without one)."""
        return self.objective.buffer

    @property
    def sampling_energy(self) -> Energy:
        """The energy to sample from after training: the EMA copy if kept, else the energy."""
        return self.ema if self.ema is not None else self.energy

    def bind(self, energy: Energy, labels: torch.Tensor | None) -> Energy:
        return bind_labels(energy, labels, self.label_key)

    def step(
        self, x_pos: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> StepStats:
        """One update from a batch of data; returns the loss, the objective's numbers (mean E+, and
        for contrastive divergence mean E- and their gap), the gradient norm and the sampler's
        statistics (`energyflow.training.StepStats`)."""
        self.optimizer.zero_grad(set_to_none=True)  # first: last step's gradients go before this graph is built
        out = self.objective.loss(self.bind(self.energy, labels), x_pos, labels, generator)
        loss = out.loss
        batch = out.batch() if self.regularizers and callable(out.batch) else out.batch
        for reg in self.regularizers:
            term = reg.loss(batch)
            if term is not None:
                loss = loss + term

        loss.backward()
        world = in_world()
        if world > 1:
            average_gradients(self.params)
        if self.grad_clip is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        else:  # the norm is still logged; clip_grad_norm_ would scale every gradient by 1 for it
            grad_norm = gradient_norm(self.params)
        self.optimizer.step()
        if self.ema is not None:
            self._update_ema()
        self.objective.finish(out, labels, generator)
        self.step_count += 1
        self.last_stats = step_stats(loss=float(loss.detach()), stats=out.stats, grad_norm=float(grad_norm),
                                     sampler=out.sampler_stats)
        if world > 1:  # the same numbers on every rank, for the divergence check and the log
            self.last_stats = average_stats(self.last_stats)
        return self.last_stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        """Average the parameters; copy the buffers (spectral norm's power-iteration vectors, whose
        sign can flip between steps, average towards zero and would blow the copy's scale up); only with an EMA."""
        live = dict(self.energy.named_parameters())
        for name, avg in self.ema.named_parameters():
            avg.lerp_(live[name], 1.0 - self.ema_decay)
        buffers = dict(self.energy.named_buffers())
        for name, buffer in self.ema.named_buffers():
            buffer.copy_(buffers[name])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: energy, optimizer, buffer, objective, EMA, step count and last step's numbers."""
        return {
            "energy": self.energy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "buffer": None if self.buffer is None else self.buffer.state_dict(),
            "objective": self.objective.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "step_count": self.step_count,
            "last_stats": dict(self.last_stats),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s output (checkpoints written before objectives existed have no ``objective``)."""
        self.energy.load_state_dict(state["energy"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.buffer is not None:
            if state["buffer"] is None:
                raise ValueError("the checkpoint holds no replay buffer (it was trained by another objective)")
            self.buffer.load_state_dict(state["buffer"])
        self.objective.load_state_dict(state.get("objective", {}))
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step_count = int(state["step_count"])
        self.last_stats = with_gap(dict(state.get("last_stats", {})))


