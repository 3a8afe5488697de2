"""The run's one progress display: live rich bars on a terminal, plain lines in a file or a pipe.

On a terminal each phase is a bar with the live loss and energy gap. Redirected (``> log.txt``,
``| tee``, CI), rich's bars would be cut into fragments, so `PlainProgress` prints whole lines
instead: one when a phase starts, one when it ends, and between them one per tenth of the phase
at most, no closer than `PlainProgress.EVERY_S` seconds apart.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

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


def make_progress(console: Console, *, quiet: bool) -> Progress | PlainProgress:
    """Spinner, description, bar, M/N, elapsed, ETA and the phase's numbers (``stats``) on a terminal;
    `PlainProgress` lines elsewhere; off when quiet."""
    if not console.is_terminal and not quiet:
        return PlainProgress(console)
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


class PlainProgress:
    """The part of `rich.progress.Progress` a run uses, printed as whole lines (for files and pipes).

    ``train: 400/2000 (20%) 0:00:12 elapsed, about 0:00:48 left  loss -0.12 gap 0.31``
    """

    STEPS = 10  #: at most this many lines per phase between its first and its last
    EVERY_S = 5.0  #: ... and no two of them closer than this

    def __init__(self, console: Console):
        self.console = console
        self._tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields: Any) -> int:
        task_id = len(self._tasks)
        self._tasks[task_id] = {"description": description, "total": total, "completed": completed,
                                "stats": fields.get("stats", ""), "began": time.perf_counter(), "shown": -1,
                                "shown_at": -float("inf")}
        self._show(task_id, force=True)
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, *, total: float | None = None, completed: float | None = None,
               advance: float | None = None, **fields: Any) -> None:
        task = self._tasks[task_id]
        if total is not None:
            task["total"] = total
        if completed is not None:
            task["completed"] = completed
        if advance is not None:
            task["completed"] += advance
        if "stats" in fields:
            task["stats"] = fields["stats"]
        self._show(task_id)

    def _show(self, task_id: int, *, force: bool = False) -> None:
        task = self._tasks[task_id]
        total, done = task["total"], task["completed"]
        tenth = int(self.STEPS * done / total) if total else (self.STEPS if done else 0)
        now = time.perf_counter()
        finished = bool(total) and done >= total
        if not force and (tenth <= task["shown"] or (not finished and now - task["shown_at"] < self.EVERY_S)):
            return
        task["shown"], task["shown_at"] = tenth, now
        elapsed = now - task["began"]
        count = f"{done:g}/{total:g} ({100 * done / total:.0f}%)" if total else f"{done:g}"
        timing = f"{_clock(elapsed)} elapsed"
        if total and 0 < done < total:
            timing += f", about {_clock(elapsed * (total - done) / done)} left"
        stats = f"  {task['stats']}" if task["stats"] else ""
        self.console.print(f"{task['description']}: {count} {timing}{stats}", highlight=False, markup=False,
                           soft_wrap=True)  # one line however narrow the (non-)terminal says it is


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
