"""``kind = "last_state"``: chain starts next to each context's last state, not uniform noise.

The next state of a particle system lies close to its last one, so a chain for (context -> next)
starts at the last past state, or at the linear extrapolation of the last two (``2 * last -
previous``), plus Gaussian noise in units of the typical distance from that start to the true next
state (a robust spread per feature, read off the training trajectories). The
buffer is context-aware: it sets ``uses_labels = True``, so the core trainer hands it each batch's
labels (the contexts). It keeps no chains: ``push`` only counts.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange

from energyflow_trajectories.data import ContextLayout, reference, trajectory_data
from energyflow_trajectories.energy import REFERENCES


class LastStateStarts:
    """Chain starts at each context's last state (or its linear extrapolation) plus scaled noise.

    Args:
        layout: how contexts are laid out.
        scale: ``(4,)`` typical distance of ``[x, y, vx, vy]`` from the start to the true next state.
        noise: noise standard deviation, in units of ``scale``.
        start: ``"last"`` state or ``"extrapolate"`` (``2 * last - previous``).
    """

    uses_labels = True  # the trainer passes each batch's labels (contexts) to sample and push

    def __init__(self, layout: ContextLayout, scale: torch.Tensor, *, noise: float = 1.0,
                 start: str = "extrapolate"):
        if start not in REFERENCES:
            raise ValueError(f"LastStateStarts: start must be one of {REFERENCES}, got {start!r}")
        self.layout, self.noise, self.start = layout, float(noise), start
        self.scale = torch.as_tensor(scale, dtype=torch.float32)
        self.reinit_prob = 1.0  # every draw is fresh (tasks read this for buffer starts)
        self.pushed = 0

    def __len__(self) -> int:
        return 0

    def centre(self, labels: torch.Tensor) -> torch.Tensor:
        """The noise-free start ``(n, 4N)`` for each context."""
        past, _ = self.layout.split(labels)
        return rearrange(reference(past, self.start), "n p f -> n (p f)")

    def sample(self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
               device: Any = None, reinit_prob: float | None = None) -> torch.Tensor:
        """``n`` chain starts, one per context row of ``labels`` (``reinit_prob`` is ignored: all are fresh)."""
        if labels is None:
            raise ValueError("last_state buffer: sample needs labels= (the contexts the chains are for)")
        labels = torch.as_tensor(labels).detach().float().cpu()
        if labels.shape[0] != n:
            raise ValueError(f"last_state buffer: expected {n} contexts, got labels of shape {tuple(labels.shape)}")
        centre = self.centre(labels)
        scale = self.scale.repeat(self.layout.num_particles)
        x = centre + self.noise * scale * torch.randn(centre.shape, generator=generator)
        return x if device is None else x.to(device)

    def push(self, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> None:
        """Nothing to keep: chains for a context do not outlive its batch."""
        self.pushed += int(x.shape[0])

    def state_dict(self) -> dict[str, Any]:
        return {"pushed": self.pushed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pushed = int(state.get("pushed", 0))


@frozen(kw_only=True)
class LastStateSpec:
    """Context-aware chain starts: each context's last state (or its extrapolation) plus scaled noise."""

    noise: float = field(default=1.0, converter=float, validator=v.ge(0.0),
                         metadata={"help": "noise std in units of the typical distance from the start to the "
                                           "true next state (per feature)"})
    start: Literal["extrapolate", "last"] = field(default="extrapolate", validator=v.in_(REFERENCES),
                                                  metadata={"help": "the linear extrapolation of the last two past "
                                                                    "states, or the last past state"})

    def build(self, ctx: Any) -> LastStateStarts:
        data = trajectory_data(ctx.data, "last_state buffer")
        return LastStateStarts(data.layout, data.scales().residual[self.start], noise=self.noise, start=self.start)
