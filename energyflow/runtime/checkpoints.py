"""Checkpoint files: written atomically, read safely, and compared with the recipe that resumes them.

A checkpoint is written to a temporary file, flushed to disk and renamed into place, so a run
killed at any moment (even mid-write) leaves the last complete checkpoint. It is read with
``torch.load(weights_only=True)``: a file holding arbitrary objects (a pickle that would run code)
is refused.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from energyflow.errors import RunError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CHECKPOINT = "checkpoint.pt"
#: recipe tables whose change makes a checkpoint unusable (network, data and buffer shapes, wrapped layers)
UNRESUMABLE = ("data", "energy", "energies", "buffer", "objective", "regularizers", "train.ema_decay")
#: what a resolved recipe written before the [objective] table existed meant by leaving it out
IMPLIED = {"objective.kind": "cd"}


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def read(path: Path) -> dict[str, Any]:
    """A checkpoint's state; a `RunError` naming the file when it is missing, truncated or unsafe."""
    if not path.exists():
        raise RunError(f"checkpoint not found: {path}; train first with a training task (energyflow run RECIPE)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" not in str(e).lower():  # torch names the class or function it will not import a GLOBAL
            raise RunError(f"cannot read checkpoint {path} (truncated or not a checkpoint?): {_first_line(e)}") from e
        raise RunError(f"refusing checkpoint {path}: it holds objects other than tensors, numbers, strings and "
                       "containers (loading it could run code); only load checkpoints you trust as plain state") from e
    except Exception as e:
        raise RunError(f"cannot read checkpoint {path} (truncated or not a checkpoint?): {_first_line(e)}") from e


def _first_line(e: Exception) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"


def recipe_changes(before: str, after: str) -> list[str]:
    """Key paths whose values differ between two resolved recipes (TOML text), sorted."""
    old, new = _flatten(tomllib.loads(before or "")), _flatten(tomllib.loads(after))
    if before and not any(key.startswith("objective.") for key in old):
        old.update(IMPLIED)  # written before the [objective] table existed: contrastive divergence
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def unresumable(changes: list[str]) -> list[str]:
    """The changed keys that a checkpoint cannot be resumed across."""
    return [key for key in changes if any(key == p or key.startswith((p + ".", p + "[")) for p in UNRESUMABLE)]


def _flatten(table: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(table, dict):
        out: dict[str, Any] = {}
        for key, value in table.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(table, list) and table and all(isinstance(t, dict) for t in table):
        return {k: v for i, t in enumerate(table) for k, v in _flatten(t, f"{prefix}[{i}]").items()}
    return {prefix: table}
