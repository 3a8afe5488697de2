"""The run's one progress display (rich): a line per phase, live loss and energy gap while training."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def make_progress(console: Console, *, quiet: bool) -> Progress:
    """Spinner, description, bar, M/N, elapsed, ETA and the phase's numbers (``stats``); off when quiet."""
    return Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
        console=console, disable=quiet,
    )


@contextlib.contextmanager
def phase(progress: Progress, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A line in the progress display for work other than training; yields ``advance(n)``."""
    task = progress.add_task(description, total=total, stats="")
    yield lambda n=1: progress.advance(task, n)
    progress.update(task, completed=total if total is not None else 1, total=total or 1)
