"""Algebra nodes: sums (AND), weights (temperature and NOT) and OR, kept in one normal form.

As sympy keeps one form for ``Mul``, the operators and the functions here build exactly one
expression for one energy: sums flatten; weights multiply through (``2 * ~b`` is
``Scaled(b, -2)``, ``w * (a + b)`` is ``Sum([w*a, w*b])``, a weight of 1 disappears, so ``~~b``
is ``b``); NOT is a negative weight (``a & ~b`` is ``Sum([a, Scaled(b, -1)])``); ORs at one
temperature merge. Two terms that would clamp one position to different observed values are an
error when the node is built, never settled by order. A node passes each child only the context
keys that child accepts; what a child accepts is read once, when the node is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from energyflow.core.energy import Energy

NEGATIVE_WEIGHT = (
    "every term has a negative weight: -E has no normalisable density; "
    "combine it with a positive energy, e.g. a & ~b"
)
ZERO_WEIGHT = "its weight is 0: a constant energy has no normalisable density"


def _fmt(value: float) -> str:
    return f"{value:g}"


class Node(Energy):
    """An energy built from child energies; its parameters are theirs.

    Children are registered as submodules, so ``print(node)`` shows the whole tree, down to the
    layers of the user's own networks.
    """

    def __init__(self, children: Sequence[Energy], names: Sequence[str] | None = None):
        super().__init__()
        names = [str(i) for i in range(len(children))] if names is None else names
        for name, child in zip(names, children):
            if not isinstance(child, Energy):
                raise TypeError(f"{type(self).__name__}: expected Energy operands, got {type(child).__name__}")
            self.add_module(name, child)
        self._child_accepts = tuple(child.accepted_context() for child in children)
        self._accepted = _union(self._child_accepts)

    @property
    def terms(self) -> tuple[Energy, ...]:
        """The child energies, in order."""
        return tuple(self._modules.values())  # type: ignore[arg-type]

    def accepted_context(self) -> frozenset[str] | None:
        return self._accepted

    def child_values(self, x: torch.Tensor, context: dict[str, Any]) -> list[torch.Tensor]:
        return [
            child(x, **_only(context, accepts)) for child, accepts in zip(self._modules.values(), self._child_accepts)
        ]

    def constrain(self, x: torch.Tensor) -> torch.Tensor:
        for child in self.terms:
            x = child.constrain(x)
        return x

    def clamps(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        return tuple(pair for child in self.terms for pair in child.clamps())

    @property
    def samplable(self) -> bool:  # type: ignore[override]
        return self.why_not_samplable() is None

    def why_not_samplable(self) -> str | None:
        reasons = [term.why_not_samplable() for term in self.terms]
        if all(r is None for r in reasons):
            return None
        return _shared_reason(self.terms, reasons, f"every term of {type(self).__name__} needs a density")


class UnaryNode(Node):
    """A node with one child, registered as ``child``; samplable exactly when its child is."""

    child: Energy

    def __init__(self, child: Energy):
        super().__init__([child], names=["child"])

    def why_not_samplable(self) -> str | None:
        return self.child.why_not_samplable()


def _union(accepts: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    keys: set[str] = set()
    for accepted in accepts:
        if accepted is None:
            return None
        keys |= accepted
    return frozenset(keys)


def _only(context: dict[str, Any], accepts: frozenset[str] | None) -> dict[str, Any]:
    """The part of ``context`` a child that ``accepts`` these names may receive."""
    if accepts is None or not context:
        return context
    return {k: v for k, v in context.items() if k in accepts}


def _atom(energy: Energy) -> str:
    """``energy.formula()``, in parentheses where an operator could bind into it."""
    text = energy.formula()
    return f"({text})" if isinstance(energy, (Sum, Scaled)) else text


def _weighted(weight: float, child: Energy) -> str:
    if weight == 1.0:
        return _atom(child)
    if weight == -1.0:
        return f"-{_atom(child)}"
    return f"{_fmt(weight)}*{_atom(child)}"


def _shared_reason(terms: Sequence[Energy], reasons: Sequence[str | None], joint: str) -> str:
    """One reason for a node whose listed terms failed: theirs if they all agree, else the first."""
    failed = [(t, r) for t, r in zip(terms, reasons) if r is not None]
    if len({r for _, r in failed}) == 1 and len(failed) == len(terms):
        return failed[0][1]
    term, reason = failed[0]
    return f"{joint}; {term.formula()} has none ({reason})"


# ---------------------------------------------------------------------- masks across terms
def clamps_agree(first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor]) -> bool:
    """Whether two ``(mask, observed)`` pairs agree wherever both clamp a position.

    Pairs whose shapes do not broadcast together cannot apply to one batch, so they agree.
    """
    (m1, o1), (m2, o2) = first, second
    try:
        m1, o1, m2, o2 = torch.broadcast_tensors(m1, o1, m2.to(m1.device), o2.to(m1.device))
    except RuntimeError:
        return True
    both = m1 & m2
    if not bool(both.any()):
        return True
    return torch.allclose(o1[both].double(), o2[both].double())


def check_clamps_agree(terms: Sequence[Energy], what: str) -> None:
    """Raise ``ValueError`` if two terms clamp one position to different observed values."""
    seen: list[tuple[Energy, tuple[torch.Tensor, torch.Tensor]]] = []
    for term in terms:
        mine = term.clamps()
        for pair in mine:
            for other, other_pair in seen:
                if not clamps_agree(other_pair, pair):
                    raise ValueError(
                        f"{what}: overlapping masks clamp the same positions to different observed "
                        f"values ({other.formula()} and {term.formula()})"
                    )
        seen.extend((term, pair) for pair in mine)


# ---------------------------------------------------------------------- sum, weight, or
class Sum(Node):
    """Product of experts: E(x) = sum_i E_i(x). Also the AND of concepts; never holds a Sum."""

    def __init__(self, terms: Iterable[Energy]):
        flat: list[Energy] = []
        for term in terms:
            flat.extend(term.terms if isinstance(term, Sum) else [term])
        if not flat:
            raise ValueError("Sum: expected at least one energy, got none")
        super().__init__(flat)
        check_clamps_agree(flat, "Sum")

    def why_not_samplable(self) -> str | None:
        reasons = [term.why_not_samplable() for term in self.terms]
        if any(r is None for r in reasons):
            return None
        return _shared_reason(self.terms, reasons, "no term has a normalisable density")

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return torch.stack(self.child_values(x, context)).sum(0)

    def formula(self) -> str:
        text = ""
        for i, term in enumerate(self.terms):
            negative = isinstance(term, Scaled) and term.weight < 0
            body = _weighted(-term.weight, term.child) if negative else term.formula()
            if i == 0:
                text = f"-{body}" if negative else body
            else:
                text += f" - {body}" if negative else f" + {body}"
        return text


class Scaled(UnaryNode):
    """E(x) = weight * E_child(x): ``w * a``, ``a / T`` (weight 1/T) and ``~a`` (weight -1)."""

    def __init__(self, child: Energy, weight: float):
        weight = float(weight)
        if not math.isfinite(weight):
            raise ValueError(f"scale: weight must be a finite number, got {weight}")
        if isinstance(child, Scaled):  # weights multiply
            child, weight = child.child, child.weight * weight
        super().__init__(child)
        self.weight = weight

    def why_not_samplable(self) -> str | None:
        if self.weight < 0:
            return NEGATIVE_WEIGHT
        if self.weight == 0:
            return ZERO_WEIGHT
        return self.child.why_not_samplable()

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.weight * self.child_values(x, context)[0]

    def extra_repr(self) -> str:
        return f"weight={_fmt(self.weight)}"

    def formula(self) -> str:
        return _weighted(self.weight, self.child)


def scale(energy: Energy, weight: float) -> Energy:
    """``weight * energy`` in normal form: weights multiply, sums distribute, 1 disappears."""
    if not isinstance(energy, Energy):
        raise TypeError(f"scale: expected an Energy, got {type(energy).__name__}")
    weight = float(weight)
    if not math.isfinite(weight):
        raise ValueError(f"scale: weight must be a finite number, got {weight}")
    if weight == 1.0:
        return energy
    if isinstance(energy, Scaled):
        return scale(energy.child, energy.weight * weight)
    if isinstance(energy, Sum):
        return Sum([scale(term, weight) for term in energy.terms])
    return Scaled(energy, weight)


def negate(energy: Energy, alpha: float = 1.0) -> Energy:
    """NOT of a concept: ``(-alpha) * energy``; ``~b`` is the ``alpha = 1`` case, ``~~b`` is ``b``.

    On its own it has no density; inside a sum with a positive energy (``a & ~b``) it pushes
    samples away from ``b``.
    """
    alpha = float(alpha)
    if not alpha > 0:
        raise ValueError(f"negate: alpha must be > 0, got {alpha}")
    return scale(energy, -alpha)


class Or(Node):
    """Soft OR (mixture): E(x) = -T * logsumexp_i(-E_i(x) / T); nested ORs at one T merge."""

    def __init__(self, terms: Iterable[Energy], temperature: float = 1.0):
        temperature = float(temperature)
        if not temperature > 0:
            raise ValueError(f"logical_or: temperature must be > 0, got {temperature}")
        flat: list[Energy] = []
        for term in terms:
            same = isinstance(term, Or) and term.temperature == temperature
            flat.extend(term.terms if same else [term])
        if len(flat) < 2:
            raise ValueError(f"logical_or: expected at least 2 energies, got {len(flat)}")
        super().__init__(flat)
        check_clamps_agree(flat, "Or")
        self.temperature = temperature

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        values = torch.stack(self.child_values(x, context))
        return -self.temperature * torch.logsumexp(-values / self.temperature, dim=0)

    def extra_repr(self) -> str:
        return f"temperature={_fmt(self.temperature)}"

    def formula(self) -> str:
        if self.temperature == 1.0:
            return "(" + " | ".join(f"({t.formula()})" if isinstance(t, Sum) else t.formula() for t in self.terms) + ")"
        return "or(" + ", ".join(t.formula() for t in self.terms) + f"; T={_fmt(self.temperature)})"


def logical_or(*energies: Energy, temperature: float = 1.0) -> Energy:
    """OR of concepts: ``-T * logsumexp(-E_i / T)``; ``a | b`` is the ``T = 1`` case."""
    return Or(energies, temperature=temperature)
