"""Progress in a file or a pipe: whole lines, each phase's start and end, a line per tenth at most."""

from __future__ import annotations

import io

from rich.console import Console

from energyflow.runtime.progress import PlainProgress, make_progress


def test_a_file_gets_whole_plain_lines_however_narrow():
    out = io.StringIO()
    console = Console(file=out, width=30)
    progress = make_progress(console, quiet=False)
    assert isinstance(progress, PlainProgress)
    progress.EVERY_S = 0.0
    with progress:
        task = progress.add_task("train", total=100, stats="")
        for _ in range(100):
            progress.update(task, advance=1, stats="loss -0.123  gap +0.456")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("train: 0/100 (0%)")
    assert lines[-1].startswith("train: 100/100 (100%)") and lines[-1].endswith("loss -0.123  gap +0.456")
    assert len(lines) == 11  # the start and one per tenth: never cut, never a line per step
    assert all(line.startswith("train: ") for line in lines)


def test_quiet_or_a_terminal_gets_rich_progress():
    assert not isinstance(make_progress(Console(file=io.StringIO()), quiet=True), PlainProgress)
    assert not isinstance(make_progress(Console(file=io.StringIO(), force_terminal=True), quiet=False), PlainProgress)
