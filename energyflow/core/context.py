"""Nodes that bind context (``condition``), clamp positions (``mask``) and name a term (``named``).

``conditioned`` and ``masked`` build the normal form the ``Energy.condition`` and
``Energy.mask`` methods return: a weight stays outermost (``(2*a).condition(y=1)`` is
``2 * a.condition(y=1)``), a mask sits above a condition, nested conditions merge into one
`Conditioned` and nested masks into one `Masked`. A key bound twice to different values, or a
position clamped twice to different values, is an error, never settled by order.
"""

from __future__ import annotations

from typing import Any

import torch

from energyflow.core.energy import Energy, check_context
from energyflow.core.nodes import Scaled, UnaryNode, _atom, _only, clamps_agree, scale

OVERLAP = "overlapping masks clamp the same positions to different observed values"


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"condition: context {name!r} must be a number, sequence or tensor, got {value!r}") from e


def _show(value: torch.Tensor) -> str:
    return str(value.item()) if value.numel() == 1 else f"<{tuple(value.shape)}>"


def _same(bound: torch.Tensor, value: torch.Tensor) -> bool:
    value = value.to(bound.device)
    if bound.numel() == 1 and value.numel() == 1:
        return bool(bound.reshape(()) == value.reshape(()))
    return bound.shape == value.shape and torch.equal(bound, value)


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
        self._buffer_names = tuple(f"ctx_{name}" for name in context)
        for name, value in context.items():
            self.register_buffer(f"ctx_{name}", _as_tensor(name, value), persistent=False)
        accepted = self._child_accepts[0]
        self._accepted = None if accepted is None else accepted - set(self.context_names)

    def bound(self) -> dict[str, torch.Tensor]:
        """The bound context, name to tensor."""
        return {name: self._buffers[b] for name, b in zip(self.context_names, self._buffer_names)}  # type: ignore[misc]

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        batch, device = x.shape[0], x.device
        bound = {k: broadcast_context(k, v, batch, device) for k, v in self.bound().items()}
        return self.child(x, **_only(context, self._child_accepts[0]), **bound)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.bound().items())

    def formula(self) -> str:
        return f"{_atom(self.child)}[{self.extra_repr()}]"


def conditioned(energy: Energy, context: dict[str, Any]) -> Energy:
    """``energy.condition(**context)`` in normal form (see the module docstring)."""
    if not context:
        return energy
    if isinstance(energy, Named):  # new context changes what the name stood for: bind it inside
        return conditioned(energy.child, context)
    if isinstance(energy, Scaled):
        return scale(conditioned(energy.child, context), energy.weight)
    if isinstance(energy, Masked):
        return Masked(conditioned(energy.child, context), energy.mask_, energy.observed)
    if not isinstance(energy, Conditioned):
        return Conditioned(energy, context)
    bound = energy.bound()
    new: dict[str, torch.Tensor] = {}
    for name, value in context.items():
        value = _as_tensor(name, value)
        if name not in bound:
            new[name] = value
        elif not _same(bound[name], value):
            raise ValueError(
                f"condition: {name!r} is already bound to {_show(bound[name])}; "
                f"cannot bind it to {_show(value)}"
            )
    return Conditioned(energy.child, {**bound, **new}) if new else energy


def _mask_pair(mask: Any, observed: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Check and convert the arguments of ``mask``: a bool mask and observed values that broadcast."""
    if mask is None:
        raise TypeError("mask: expected a bool tensor, got None")
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
    return mask, observed


class Masked(UnaryNode):
    """``energy.mask(mask, observed)``: E(where(mask, observed, x)); masked positions are fixed.

    ``mask`` and ``observed`` are either per-sample shaped (``x.shape[1:]``) or batch shaped
    (``x.shape``); ``mask`` may also broadcast against the per-sample shape.
    """

    def __init__(self, child: Energy, mask: torch.Tensor, observed: torch.Tensor):
        mask, observed = _mask_pair(mask, observed)
        super().__init__(child)
        if not all(clamps_agree((mask, observed), pair) for pair in child.clamps()):
            raise ValueError(f"mask: {OVERLAP}")
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

    def clamps(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        return ((self.mask_, self.observed), *self.child.clamps())

    def constrain(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x = torch.where(self.mask_.to(x.device), self.observed.to(x.device, x.dtype), x)
        return self.child.constrain(x)

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.child(self.constrain(x), **_only(context, self._child_accepts[0]))

    def clamped(self) -> str:
        """How many positions of the mask are clamped, e.g. ``32/64``."""
        return f"{int(self.mask_.sum())}/{self.mask_.numel()}"

    def extra_repr(self) -> str:
        return f"clamped={self.clamped()}"

    def formula(self) -> str:
        return f"mask({self.child.formula()}, {self.clamped()})"


def masked(energy: Energy, mask: Any, observed: Any) -> Energy:
    """``energy.mask(mask, observed)`` in normal form (see the module docstring)."""
    mask, observed = _mask_pair(mask, observed)
    if not bool(mask.any()):
        return energy
    if isinstance(energy, Scaled):
        return scale(masked(energy.child, mask, observed), energy.weight)
    if not isinstance(energy, Masked):
        return Masked(energy, mask, observed)
    old_mask, old_observed = energy.mask_, energy.observed
    mask, observed = mask.to(old_mask.device), observed.to(old_mask.device)
    try:
        torch.broadcast_shapes(old_mask.shape, old_observed.shape, mask.shape, observed.shape)
    except RuntimeError as e:
        raise ValueError(
            f"mask: cannot merge a mask of shape {tuple(mask.shape)} into one of shape "
            f"{tuple(old_mask.shape)}: they do not broadcast"
        ) from e
    if not clamps_agree((old_mask, old_observed), (mask, observed)):
        raise ValueError(f"mask: {OVERLAP}")
    return Masked(energy.child, old_mask | mask, torch.where(old_mask, old_observed, observed))


class Named(UnaryNode):
    """``energy.named("smiling")``: the same energy, shown as ``smiling`` in formulas.

    Values, gradients, context and clamps are the child's. Conditioning it again binds the new
    context inside and drops the name (the name no longer says what the energy is).
    """

    def __init__(self, child: Energy, name: str):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"named: expected a non-empty name, got {name!r}")
        super().__init__(child)
        self.name = name.strip()

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.child(x, **_only(context, self._child_accepts[0]))

    def extra_repr(self) -> str:
        return repr(self.name)

    def formula(self) -> str:
        return self.name


def named(energy: Energy, name: str) -> Energy:
    """``energy.named(name)``; renaming a `Named` replaces its name."""
    return Named(energy.child if isinstance(energy, Named) else energy, name)
