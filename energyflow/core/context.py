"""Nodes that bind context (``condition``) and clamp positions (``mask``)."""

from __future__ import annotations

from typing import Any

import torch

from energyflow.core.energy import Energy, check_context
from energyflow.core.nodes import UnaryNode, _context_for


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"condition: context {name!r} must be a number, sequence or tensor, got {value!r}") from e


def broadcast_context(name: str, value: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """Broadcast a scalar or one-row context value over a batch of ``batch`` samples."""
    value = value.to(device)
    if value.dim() == 0:
        return value.expand(batch)
    if value.shape[0] == batch:
        return value
    if value.shape[0] == 1:
        return value.expand(batch, *value.shape[1:])
    raise ValueError(
        f"condition: context {name!r} must be a scalar, one row or {batch} rows (the batch), "
        f"got shape {tuple(value.shape)}"
    )


class Conditioned(UnaryNode):
    """``energy.condition(**context)``: the energy with some context bound."""

    def __init__(self, child: Energy, context: dict[str, Any]):
        check_context(child, context)
        super().__init__(child)
        self.context_names = tuple(context)
        for name, value in context.items():
            self.register_buffer(f"ctx_{name}", _as_tensor(name, value), persistent=False)

    def bound(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"ctx_{name}") for name in self.context_names}

    def accepted_context(self) -> frozenset[str] | None:
        accepted = self.child.accepted_context()
        return None if accepted is None else accepted - set(self.context_names)

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        bound = {k: broadcast_context(k, v, x.shape[0], x.device) for k, v in self.bound().items()}
        return self.child(x, **_context_for(self.child, context), **bound)

    def extra_label(self) -> str:
        def show(v: torch.Tensor) -> str:
            return str(v.item()) if v.numel() == 1 else f"<{tuple(v.shape)}>"

        bound = ", ".join(f"{k}={show(v)}" for k, v in self.bound().items())
        return f"Cond({self.child!r}, {bound})"


class Masked(UnaryNode):
    """``energy.mask(mask, observed)``: E(where(mask, observed, x)); masked positions are fixed.

    ``mask`` and ``observed`` are either per-sample shaped (``x.shape[1:]``) or batch shaped
    (``x.shape``); ``mask`` may also broadcast against the per-sample shape.
    """

    def __init__(self, child: Energy, mask: torch.Tensor, observed: torch.Tensor | None):
        super().__init__(child)
        mask = torch.as_tensor(mask)
        if mask.dtype != torch.bool:
            raise TypeError(f"mask: expected a bool tensor, got dtype {mask.dtype}")
        if observed is None:
            raise ValueError("mask: observed values are required where mask is true; pass observed=")
        observed = torch.as_tensor(observed)
        try:
            torch.broadcast_shapes(mask.shape, observed.shape)
        except RuntimeError as e:
            raise ValueError(
                f"mask: mask shape {tuple(mask.shape)} does not broadcast with observed shape "
                f"{tuple(observed.shape)}"
            ) from e
        self.register_buffer("mask_", mask, persistent=False)
        self.register_buffer("observed", observed, persistent=False)

    def _check(self, x: torch.Tensor) -> None:
        for name, t in (("mask", self.mask_), ("observed", self.observed)):
            if t.shape != x.shape and t.shape != x.shape[1:]:
                try:
                    if torch.broadcast_shapes(t.shape, x.shape) == x.shape:
                        continue
                except RuntimeError:
                    pass
                raise ValueError(
                    f"mask: {name} has shape {tuple(t.shape)}, expected {tuple(x.shape)} (the batch) "
                    f"or {tuple(x.shape[1:])} (one sample)"
                )

    def constrain(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x = torch.where(self.mask_.to(x.device), self.observed.to(x.device, x.dtype), x)
        return self.child.constrain(x)

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.child(self.constrain(x), **_context_for(self.child, context))

    def extra_label(self) -> str:
        free = int((~self.mask_).sum())
        return f"Mask({self.child!r}, clamped={self.mask_.numel() - free}/{self.mask_.numel()})"
