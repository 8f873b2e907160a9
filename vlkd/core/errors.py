"""Errors meant for people.

Every error a user can cause derives from :class:`VlkdError`. The CLI catches it, prints
its message without a traceback and exits with status 2. Messages point at a file, line
and column where there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a recipe file (1-based line and column), or a pseudo-file such as ``--set``."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


class VlkdError(Exception):
    """Base of every error caused by input: printed without traceback, exit status 2."""

    exit_code = 2


class RecipeError(VlkdError):
    """One or more problems in a recipe, each already formatted as ``FILE:LINE:COL: path: message``."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PluginError(VlkdError):
    """A plugin is unknown, registered twice, or cannot be used on this installation."""


class StageError(VlkdError):
    """A stage cannot run (its input is missing, its input is invalid, ...)."""


class SkipItem(Exception):
    """Raised by per-item plugin code: this item is skipped, with a reason shown to the user."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class RunInterrupted(VlkdError):
    """The run was stopped (Ctrl-C, a budget). Finished work is kept; the message says how to resume."""

    exit_code = 130


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
