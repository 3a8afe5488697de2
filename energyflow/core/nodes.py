"""Algebra nodes: sums (AND), weights and temperatures, OR and NOT.

Nodes simplify on construction: nested sums flatten, weights multiply, ORs at one temperature
merge. A node passes each child only the context keys that child accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from energyflow.core.energy import Energy


def _fmt(value: float) -> str:
    return f"{value:g}"


class Node(Energy):
    """An energy built from child energies; its parameters are theirs."""

    def __init__(self, children: Sequence[Energy]):
        super().__init__()
        for child in children:
            if not isinstance(child, Energy):
                raise TypeError(f"{type(self).__name__}: expected Energy operands, got {type(child).__name__}")
        self.terms = nn.ModuleList(children)

    def accepted_context(self) -> frozenset[str] | None:
        keys: set[str] = set()
        for child in self.terms:
            accepted = child.accepted_context()
            if accepted is None:
                return None
            keys |= accepted
        return frozenset(keys)

    def child_values(self, x: torch.Tensor, context: dict[str, Any]) -> list[torch.Tensor]:
        return [child(x, **_context_for(child, context)) for child in self.terms]

    def constrain(self, x: torch.Tensor) -> torch.Tensor:
        for child in self.terms:
            x = child.constrain(x)
        return x


class UnaryNode(Node):
    """A node with one child; samplable exactly when its child is, unless it says otherwise."""

    def __init__(self, child: Energy):
        super().__init__([child])

    @property
    def child(self) -> Energy:
        return self.terms[0]

    @property
    def samplable(self) -> bool:  # type: ignore[override]
        return self.child.samplable


def _context_for(child: Energy, context: dict[str, Any]) -> dict[str, Any]:
    accepted = child.accepted_context()
    if accepted is None:
        return context
    return {k: v for k, v in context.items() if k in accepted}


class Sum(Node):
    """Product of experts: E(x) = sum_i E_i(x). Also the AND of concepts."""

    def __init__(self, terms: Iterable[Energy]):
        flat: list[Energy] = []
        for term in terms:
            flat.extend(term.terms if isinstance(term, Sum) else [term])
        super().__init__(flat)

    @property
    def samplable(self) -> bool:  # type: ignore[override]
        return any(child.samplable for child in self.terms)

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return torch.stack(self.child_values(x, context)).sum(0)

    def extra_label(self) -> str:
        return "Sum(" + ", ".join(repr(t) for t in self.terms) + ")"


class Scaled(UnaryNode):
    """E(x) = weight * E_child(x); ``a / T`` is ``Scaled(a, 1/T)``."""

    def __init__(self, child: Energy, weight: float):
        super().__init__(child)
        self.weight = float(weight)

    @property
    def samplable(self) -> bool:  # type: ignore[override]
        return self.child.samplable and self.weight > 0

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.weight * self.child_values(x, context)[0]

    def extra_label(self) -> str:
        return f"{_fmt(self.weight)}*{self.child!r}"


def scale(energy: Energy, weight: float) -> Energy:
    """``weight * energy``, multiplying into an existing weight."""
    if weight == 1.0:
        return energy
    if isinstance(energy, Scaled):
        return scale(energy.child, energy.weight * weight)
    return Scaled(energy, weight)


class Or(Node):
    """Soft OR (mixture): E(x) = -T * logsumexp_i(-E_i(x) / T)."""

    def __init__(self, terms: Iterable[Energy], temperature: float = 1.0):
        temperature = float(temperature)
        if temperature <= 0:
            raise ValueError(f"logical_or: temperature must be > 0, got {temperature}")
        flat: list[Energy] = []
        for term in terms:
            same = isinstance(term, Or) and term.temperature == temperature
            flat.extend(term.terms if same else [term])
        if len(flat) < 2:
            raise ValueError(f"logical_or: expected at least 2 energies, got {len(flat)}")
        super().__init__(flat)
        self.temperature = temperature

    @property
    def samplable(self) -> bool:  # type: ignore[override]
        return all(child.samplable for child in self.terms)

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        values = torch.stack(self.child_values(x, context))
        return -self.temperature * torch.logsumexp(-values / self.temperature, dim=0)

    def extra_label(self) -> str:
        temp = "" if self.temperature == 1.0 else f", temperature={_fmt(self.temperature)}"
        return "Or(" + ", ".join(repr(t) for t in self.terms) + temp + ")"


def logical_or(*energies: Energy, temperature: float = 1.0) -> Energy:
    """OR of concepts: ``-T * logsumexp(-E_i / T)``; ``a | b`` is the ``T = 1`` case."""
    return Or(energies, temperature=temperature)


class Not(UnaryNode):
    """NOT of a concept: E(x) = -alpha * E_child(x). Only meaningful inside a sum (``a & ~b``)."""

    @property
    def samplable(self) -> bool:  # type: ignore[override]
        return False

    def __init__(self, child: Energy, alpha: float = 1.0):
        alpha = float(alpha)
        if alpha <= 0:
            raise ValueError(f"negate: alpha must be > 0, got {alpha}")
        super().__init__(child)
        self.alpha = alpha

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return -self.alpha * self.child_values(x, context)[0]

    def extra_label(self) -> str:
        alpha = "" if self.alpha == 1.0 else f", alpha={_fmt(self.alpha)}"
        return f"Not({self.child!r}{alpha})"


def negate(energy: Energy, alpha: float = 1.0) -> Energy:
    """NOT of a concept, ``-alpha * E``; ``~b`` is the ``alpha = 1`` case. ``~~b`` is ``b``."""
    if isinstance(energy, Not) and alpha == 1.0:
        return scale(energy.child, energy.alpha)
    return Not(energy, alpha=alpha)
