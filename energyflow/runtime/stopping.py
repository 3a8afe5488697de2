"""Stopping a run cleanly: SIGINT and SIGTERM finish the current step, then the run checkpoints and exits.

Clusters send SIGTERM before they preempt a job; Ctrl-C sends SIGINT. The first signal asks the
training loop to stop after the step it is in (so the checkpoint holds that step, not the last
periodic one); a second one aborts at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from energyflow.errors import EXIT_CODES, RunInterrupted


@contextlib.contextmanager
def stop_requests(log: Callable[[str], None]) -> Iterator[list[int]]:
    """Within the block, SIGINT / SIGTERM append to the yielded list instead of interrupting.

    The loop checks the list after each step. A second signal raises `RunInterrupted` at once.
    Outside the main thread (where handlers cannot be set) signals keep their usual effect.
    """
    requested: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handler(signum: int, _frame: object) -> None:
        if requested:
            raise RunInterrupted(signum)
        requested.append(signum)
        log(f"{signal.Signals(signum).name}: stopping after this step with a checkpoint (again to abort now)")

    previous = {s: signal.signal(s, handler) for s in EXIT_CODES}
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
