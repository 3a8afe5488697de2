"""Helpers for testing plugins: a fresh plugin manager, inline plugins, the energy contract.

Use the fixtures from a plugin's ``conftest.py``::

    pytest_plugins = ["energyflow.testing"]

    def test_my_sampler_is_registered(plugin_manager):
        assert "my_sampler" in energyflow.registry.get_registry("sampler").names()

or the context managers directly, outside pytest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.registry.manager import (
    PluginManager,
    get_plugin_manager,
    make_plugin_manager,
    use_plugin_manager,
)

__all__ = ["check_energy", "fresh_plugin_manager", "inline_plugin", "plugin_manager", "register_plugin"]


@contextlib.contextmanager
def fresh_plugin_manager(*, entry_points: bool = False) -> Iterator[PluginManager]:
    """A new manager (built-ins only, unless ``entry_points``) as the process-wide one, for the block."""
    with use_plugin_manager(make_plugin_manager(entry_points=entry_points)) as pm:
        yield pm


@contextlib.contextmanager
def inline_plugin(plugin: object, name: str | None = None, pm: PluginManager | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module, class or instance with ``@energyflow.hookimpl`` functions) for the block.

    Yields the name it was registered under; it is unregistered afterwards, even on error.
    """
    pm = pm or get_plugin_manager()
    registered = pm.register(plugin, name=name)
    if registered is None:
        raise ValueError(f"plugin {name!r} is blocked (ENERGYFLOW_DISABLE_PLUGINS?) and was not registered")
    try:
        yield registered
    finally:
        pm.unregister(name=registered)


@pytest.fixture
def plugin_manager() -> Iterator[PluginManager]:
    """A fresh plugin manager with the built-ins only, installed as the process-wide one."""
    with fresh_plugin_manager() as pm:
        yield pm


@pytest.fixture
def register_plugin(plugin_manager: PluginManager) -> Iterator[Callable[..., str]]:
    """``register_plugin(obj, name=None)`` registers an inline plugin until the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda plugin, name=None: stack.enter_context(inline_plugin(plugin, name, plugin_manager))


def check_energy(energy: Energy, x: torch.Tensor, *, atol: float = 1e-5, **context: Any) -> torch.Tensor:
    """Assert that ``energy`` keeps the `Energy` contract on the batch ``x``; returns E(x).

    Checks: the output has shape ``(batch,)`` and is finite; each sample's energy does not depend
    on the rest of the batch; calling twice gives the same values; dE/dx exists, has ``x``'s shape,
    is finite; and computing it leaves every parameter's ``.grad`` untouched.

    Raises:
        AssertionError: naming the broken rule.
    """
    name = type(energy).__name__
    assert isinstance(energy, Energy), f"{name} is not an energyflow.Energy"
    assert x.shape[0] >= 2, "check_energy needs a batch of at least 2 samples"
    before = [p.grad.clone() if p.grad is not None else None for p in energy.parameters()]
    was_training = energy.training
    energy.eval()  # batch statistics or dropout would make per-sample checks meaningless
    try:
        with torch.no_grad():
            values = energy(x, **context)
            again = energy(x, **context)
            alone = energy(x[:1], **_first(context))
        assert values.shape == (x.shape[0],), f"{name} returned shape {tuple(values.shape)}, expected ({x.shape[0]},)"
        assert torch.isfinite(values).all(), f"{name} returned non-finite energies"
        assert torch.allclose(values, again, atol=atol), f"{name} is not deterministic in eval mode"
        assert torch.allclose(values[:1], alone, atol=atol), (
            f"{name}: a sample's energy depends on the rest of the batch"
        )
        _, grad = energy_and_grad(energy, x, **context)
    finally:
        energy.train(was_training)
    assert grad.shape == x.shape, f"{name}: dE/dx has shape {tuple(grad.shape)}, expected {tuple(x.shape)}"
    assert torch.isfinite(grad).all(), f"{name}: dE/dx is not finite"
    after = [p.grad for p in energy.parameters()]
    assert all((a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
               for a, b in zip(before, after, strict=True)), f"{name}: computing dE/dx changed parameter .grad"
    return values


def _first(context: dict[str, Any]) -> dict[str, Any]:
    """The context of the first sample: batched tensors cut to one row, the rest kept."""
    return {k: v[:1] if isinstance(v, torch.Tensor) and v.dim() > 0 else v for k, v in context.items()}
