"""The regression baseline: a feed-forward network that predicts the next state from the context.

It sees exactly what the energy sees (the same scaled past states, past changes and graph) and
predicts the next state's residual from the same reference (the linear extrapolation of the last
two states, or the last state), trained with Adam on the mean squared error of that residual in
units of its standard deviation (or, with ``target = "robust"``, of its typical size, the unit the
energy uses). Rolled out, it is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange
from torch import nn

from energyflow_trajectories.data import FEATURES, ContextLayout, Scales
from energyflow_trajectories.energy import ContextFeatures, mlp


class NextStateRegressor(nn.Module):
    """next = reference + target_scale * MLP(scaled context), the reference as the energy's.

    Args:
        layout: how contexts are laid out.
        scales: the data's scales.
        hidden: widths of the SiLU layers (match the energy's for a fair comparison).
        reference: ``"extrapolate"`` or ``"last"``.
        target: the unit of the residual the MSE is taken in: its standard deviation (``"std"``,
            set by the rare wall bounces) or its robust spread (``"robust"``, the typical step).
    """

    def __init__(self, layout: ContextLayout, scales: Scales, hidden: tuple[int, ...] = (256, 256),
                 reference: str = "extrapolate", target: str = "std"):
        super().__init__()
        if target not in ("std", "robust"):
            raise ValueError(f"NextStateRegressor: target must be 'std' or 'robust', got {target!r}")
        self.layout, self.target = layout, target
        self.context = ContextFeatures(layout, scales, reference)
        unit = scales.residual_std[reference] if target == "std" else scales.residual[reference]
        self.register_buffer("target_scale", unit.float().clone())
        count = layout.num_particles
        self.net = mlp(count * self.context.own_width + layout.graph_features, tuple(hidden), out=count * FEATURES)

    def scaled_residual(self, f: dict[str, torch.Tensor]) -> torch.Tensor:
        """The predicted residual ``(n, N, 4)`` in units of ``target_scale``."""
        h = torch.cat([rearrange(f["own"], "n p f -> n (p f)"), f["graph"]], dim=1)
        return rearrange(self.net(h), "n (p f) -> n p f", f=FEATURES)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """The predicted next states ``(n, 4N)`` for contexts ``(n, D)``."""
        f = self.context(y)
        nxt = f["ref"] + self.target_scale * self.scaled_residual(f)
        return rearrange(nxt, "n p f -> n (p f)")

    def loss(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the residual in units of ``target_scale``."""
        f = self.context(y)
        true = (rearrange(target, "n (p f) -> n p f", f=FEATURES) - f["ref"]) / self.target_scale
        return (self.scaled_residual(f) - true).pow(2).mean()


def fit(model: NextStateRegressor, contexts: torch.Tensor, targets: torch.Tensor, *, iterations: int,
        batch_size: int, lr: float, generator: torch.Generator, device: torch.device,
        advance: Callable[[int], None] = lambda n: None) -> float:
    """Adam on minibatches drawn with ``generator``; returns the mean loss of the last tenth of the steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(iterations, 1))
    tail: list[float] = []
    for step in range(iterations):
        idx = torch.randint(contexts.shape[0], (batch_size,), generator=generator)
        loss = model.loss(contexts[idx].to(device), targets[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step >= iterations - max(1, iterations // 10):
            tail.append(float(loss.detach()))
        advance(1)
    return sum(tail) / len(tail) if tail else float("nan")
