"""The `Energy` base class: a module mapping a batch to one scalar energy per sample."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import nn


class Energy(nn.Module):
    """An energy function E(x) defining the density p(x) proportional to exp(-E(x)).

    Subclasses implement ``forward(x, **context)`` and return a tensor of shape ``(batch,)``;
    lower is more likely. Calling an energy checks the context keys and the output shape.
    Energies combine with ``+``, ``-``, ``*``, ``/``, ``&``, ``|`` and ``~`` into new energies in
    one normal form (see `energyflow.core.nodes`); the operands are never changed.

    ``print(energy)`` is ``nn.Module``'s tree, so a network's own layers show; each algebra node
    adds its words through ``extra_repr``. ``energy.formula()`` is the compact one-line form.

    Attributes:
        context_keys: names of the keyword context ``forward`` accepts (a class label ``y``, an
            attribute vector). ``None`` (the default) reads them off ``forward``'s signature.
        samplable: ``False`` for energies with no normalisable density on their own; algebra
            nodes compute it from their terms (a bare ``~b`` is not samplable).
    """

    context_keys: tuple[str, ...] | None = None
    samplable: bool = True

    # ------------------------------------------------------------------ calling
    def accepted_context(self) -> frozenset[str] | None:
        """Context names this energy accepts; ``None`` means any name."""
        if self.context_keys is not None:
            return frozenset(self.context_keys)
        return _forward_context(type(self).forward)

    def __call__(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self._name()}: expected x to be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 1:
            raise ValueError(f"{self._name()}: expected x of shape (batch, ...), got a 0-d tensor")
        check_context(self, context)
        out = super().__call__(x, **context)
        if out.shape != (x.shape[0],):
            raise ValueError(
                f"{self._name()}: forward must return shape ({x.shape[0]},) (one energy per sample), "
                f"got {tuple(out.shape)}"
            )
        return out

    def score(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        """The score -dE/dx at ``x``; no gradient reaches the parameters' ``.grad``."""
        _, grad = energy_and_grad(self, x, **context)
        return -grad

    def constrain(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``x`` onto the set the energy is defined on (clamped positions set).

        Samplers call this after every move, so masked positions never drift.
        """
        return x

    def clamps(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        """Every ``(mask, observed)`` pair this energy clamps, its own and its children's."""
        return ()

    # ------------------------------------------------------------------ samplability
    def why_not_samplable(self) -> str | None:
        """Why this energy has no density to sample from, or ``None`` when it has one."""
        return None if self.samplable else f"{type(self).__name__} sets samplable = False"

    def check_samplable(self) -> None:
        """Raise ``ValueError`` if this energy has no density to sample from, saying why."""
        reason = self.why_not_samplable()
        if reason is not None:
            raise ValueError(f"cannot sample from {self.formula()}: {reason}")

    def _name(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------------ algebra
    def __add__(self, other: Any) -> Energy:
        from energyflow.core import nodes

        if isinstance(other, (int, float)) and other == 0:
            return self
        if not isinstance(other, Energy):
            return NotImplemented
        return nodes.Sum([self, other])

    def __radd__(self, other: Any) -> Energy:
        if isinstance(other, (int, float)) and other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: Any) -> Energy:
        if isinstance(other, (int, float)) and other == 0:
            return self
        if not isinstance(other, Energy):
            return NotImplemented
        return self + (-other)

    def __neg__(self) -> Energy:
        from energyflow.core import nodes

        return nodes.scale(self, -1.0)

    def __mul__(self, weight: Any) -> Energy:
        from energyflow.core import nodes

        if not _is_number(weight):
            return NotImplemented
        return nodes.scale(self, float(weight))

    __rmul__ = __mul__

    def __truediv__(self, temperature: Any) -> Energy:
        from energyflow.core import nodes

        if not _is_number(temperature):
            return NotImplemented
        if float(temperature) <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        return nodes.scale(self, 1.0 / float(temperature))

    def __and__(self, other: Any) -> Energy:
        if not isinstance(other, Energy):
            return NotImplemented
        return self + other

    def __or__(self, other: Any) -> Energy:
        from energyflow.core import nodes

        if not isinstance(other, Energy):
            return NotImplemented
        return nodes.logical_or(self, other)

    def __invert__(self) -> Energy:
        from energyflow.core import nodes

        return nodes.negate(self)

    def condition(self, **context: Any) -> Energy:
        """Bind context: ``y=3``, labels ``(batch,)``, or an attribute vector.

        A scalar or a one-row value (shape ``(1, ...)``) broadcasts over the batch; a value with
        ``batch`` rows is used as is. Pass one attribute vector as ``(1, A)``: a 1-D value is
        read as one entry per sample. Nested conditions merge into one node; binding a bound
        key again to a different value raises ``ValueError``. No context returns ``self``.
        """
        from energyflow.core.context import conditioned

        return conditioned(self, context)

    def named(self, name: str) -> Energy:
        """The same energy, written ``name`` in `formula` (``parse`` names each concept this way)."""
        from energyflow.core.context import named

        return named(self, name)

    def mask(self, mask: torch.Tensor, observed: torch.Tensor) -> Energy:
        """Clamp the positions where ``mask`` is true to ``observed``; samplers move only the rest.

        An all-false mask returns ``self``; nested masks merge into one node, and masks that
        clamp a position to two different values raise ``ValueError``.
        """
        from energyflow.core.context import masked

        return masked(self, mask, observed)

    # ------------------------------------------------------------------ printing
    def formula_name(self) -> str:
        """This energy's name inside a `formula`; the class name unless a subclass says otherwise."""
        return type(self).__name__

    def formula(self) -> str:
        """The expression on one line, e.g. ``0.5*attr[y=1] - 0.5*attr[y=2]`` or ``(a | b)``."""
        return self.formula_name()


@functools.cache
def _forward_context(forward: Any) -> frozenset[str] | None:
    """Keyword names after ``x`` in a ``forward`` signature (``None`` if it takes ``**context``).

    Cached per function: energies are called every sampler step, and inspecting is slow.
    """
    params = list(inspect.signature(forward).parameters.values())[2:]  # self, x
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or (
        isinstance(value, torch.Tensor) and value.dim() == 0
    )


def check_context(energy: Energy, context: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming the energy and the keys it does not accept."""
    accepted = energy.accepted_context()
    if accepted is None:
        return
    unknown = sorted(set(context) - accepted)
    if unknown:
        accepts = ", ".join(sorted(accepted)) or "no context"
        raise TypeError(
            f"{energy.formula()} got unexpected context {', '.join(repr(k) for k in unknown)}; "
            f"it accepts: {accepts}"
        )


def energy_and_grad(
    energy: Energy, x: torch.Tensor, create_graph: bool = False, **context: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Energies at ``x`` (detached unless ``create_graph``) and dE/dx, touching no ``.grad``.

    An energy a sampler has given a compiled step (`energyflow.samplers.compiled_step.CompiledEnergy`, its
    ``compiled_step`` method) is evaluated through that step unless ``create_graph``.
    """
    compiled_step = None if create_graph else getattr(energy, "compiled_step", None)
    if compiled_step is not None:
        return compiled_step(x, **context)
    with torch.enable_grad():
        x = x if create_graph and x.requires_grad else x.detach().requires_grad_(True)
        values = energy(x, **context)
        (grad,) = torch.autograd.grad(values.sum(), x, create_graph=create_graph)
    return (values if create_graph else values.detach()), grad
