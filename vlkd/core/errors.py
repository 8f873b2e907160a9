"""Errors meant for people.

Every error a user can cause derives from :class:`VlkdError`. The CLI catches it, prints
its message without a traceback and exits with status 2. Messages point at a file, line
and column where there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


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


class CorruptLine(StageError, ValueError):
    """A whole line of a JSONL file that is not JSON (or not UTF-8): ``file:line`` in the message."""


class StageWaiting(Exception):
    """Raised by a stage that cannot go on until people act (experts review the pairs).

    Not a failure: the engine records the stage as ``waiting``, later stages wait, the run
    ends with status ``waiting`` (exit status 0), and the message (the next step) is shown.
    """


class StorageError(VlkdError):
    """The run directory cannot be written (disk full, read-only, no permission)."""


class SkipItem(Exception):
    """Raised by per-item plugin code: this item is skipped, with a reason shown to the user."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class RunInterrupted(VlkdError):
    """The run was stopped (Ctrl-C, a budget). Finished work is kept; the message says how to resume."""

    exit_code = 130


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else ``""``.

    Among difflib's close matches the fewest edits win, a swap of two neighbouring letters
    counting as one (``modle`` is ``model``, not ``mode``), then the same length, then difflib's
    own order.
    """
    options = list(dict.fromkeys(choices))
    close = difflib.get_close_matches(word, options, n=len(options) or 1, cutoff=0.6)
    if not close:
        return ""
    order = {c: i for i, c in enumerate(close)}
    best = min(close, key=lambda c: (_edits(word.lower(), c.lower()), abs(len(c) - len(word)), order[c]))
    return f" (did you mean '{best}'?)"


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def _click_exception_modules() -> list[object]:
    """typer >= 0.24 bundles its own click (``typer._click``); older ones use the standalone one."""
    import contextlib
    import importlib

    modules: list[object] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        with contextlib.suppress(ImportError):
            modules.append(importlib.import_module(name))
    return modules


def usage_error_message(exc: BaseException) -> tuple[int, str] | None:
    """(exit status, text to print) for a command-line usage error or exit, else ``None``.

    A usage error is one line and a hint: ``error: No such option: --bogus`` then
    ``(see: vlkd run --help)``; exit status 2.
    """
    import typer

    if isinstance(exc, typer.Exit):
        return exc.exit_code, ""
    if isinstance(exc, typer.Abort):
        return 130, "aborted"
    error: Any = exc  # click's classes come from whichever module has them: attributes checked below
    for module in _click_exception_modules():
        if isinstance(exc, getattr(module, "Exit", ())):
            return error.exit_code, ""
        if isinstance(exc, getattr(module, "Abort", ())):
            return 130, "aborted"
        if isinstance(exc, getattr(module, "NoArgsIsHelpError", ())):
            return 2, error.format_message()  # the command's help
        if isinstance(exc, getattr(module, "UsageError", ())):
            ctx = error.ctx
            command = ctx.command_path if ctx is not None else "vlkd"
            message = " ".join(error.format_message().split())
            return 2, f"error: {message}\n(see: {command} --help)"
        if isinstance(exc, getattr(module, "ClickException", ())):
            return error.exit_code or 2, f"error: {error.format_message()}"
    return None
