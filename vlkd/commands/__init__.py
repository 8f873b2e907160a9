"""Command groups beyond the core ones (review, student, dataset checks, reports).

Each module here defines a function ``register(app)`` that adds its commands; modules are
imported when the CLI starts, so they must import nothing heavy at module level.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES: tuple[str, ...] = (
    "vlkd.commands.student",
    "vlkd.commands.review",
    "vlkd.commands.dataset",
    "vlkd.commands.report",
)


def register_commands(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
