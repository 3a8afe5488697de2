"""Where a dataset's files must be, and the one-line error when they are not: `DatasetLayoutError`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DatasetLayoutError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the expected layout."""


def layout_error(dataset: str, problem: str, path: Path | str, expected: str) -> DatasetLayoutError:
    """A one-line `DatasetLayoutError`: ``<dataset>: <problem> <path>; expected <layout>``."""
    return DatasetLayoutError(f"{dataset}: {problem} {path}; expected {expected}")


def require_root(dataset: str, root: str | None, expected: str) -> Path:
    """``root`` as a Path, or a layout error when it is unset or not a folder."""
    if root is None:
        raise DatasetLayoutError(f"{dataset}: no root given; set data.root to a folder holding {expected}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise layout_error(dataset, "root folder not found:", path, expected)
    return path


def find_file(dataset: str, folders: Sequence[Path], names: Sequence[str], expected: str) -> Path:
    """The first of ``names`` found in the first of ``folders`` holding one; else a layout error."""
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    raise layout_error(dataset, "missing file", folders[0] / names[0], expected)
