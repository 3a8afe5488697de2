"""Every error a user can fix, in one leaf module that imports nothing of ours, so any layer can raise them.

The CLI prints `RecipeError`, `PluginError` and `RunError` as one line (``Error: ...``) and exits
with status 1; `RunInterrupted` exits with the status a shell reports for its signal.
"""

from __future__ import annotations

import difflib
import signal

#: exit status per signal, as shells report a process killed by it
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class RecipeError(ValueError):
    """A recipe is wrong; the message names the file, the key path, the value and a fix."""


class PluginError(Exception):
    """A plugin is broken or two plugins disagree; the message says which and how to fix it."""


class UnknownComponentError(PluginError, LookupError):
    """No registered component has the requested name."""


class RunError(RuntimeError):
    """A run or task cannot go on for a reason the user can fix; the CLI prints it as one line."""


class CompositionError(ValueError):
    """An expression uses something outside the concept algebra, or a name that is not a concept."""


class RunInterrupted(KeyboardInterrupt):
    """Training stopped on request after a complete step; ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.exit_code = EXIT_CODES.get(signum, 130)


def suggest(name: str, choices: list[str]) -> str:
    """``"; did you mean 'x'? (known: ...)"``, the tail of a not-found message."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} (known: {', '.join(choices) or 'none'})"
