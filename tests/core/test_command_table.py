"""The docs' command table (docs/reference/commands.md) lists every command the CLI has, and no command it lacks."""

import re
from pathlib import Path

import typer.main

from vlkd.cli import app
from vlkd.commands import register_commands

TABLE = Path(__file__).parents[2] / "docs" / "reference" / "commands.md"


def real_commands() -> set[str]:
    register_commands(app, autoload=False)
    found = set()

    def walk(command, prefix):
        for name, sub in getattr(command, "commands", {}).items():
            if getattr(sub, "hidden", False):
                continue
            if getattr(sub, "commands", None):
                walk(sub, (*prefix, name))
            else:
                found.add(" ".join((*prefix, name)))

    walk(typer.main.get_command(app), ())
    return found


def readme_commands() -> set[str]:
    section = TABLE.read_text(encoding="utf-8")
    found = set()
    for cell in re.findall(r"^\| `vlkd ([^`]*)`", section, re.M):
        words = []
        for word in cell.split():
            if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                break
            words.append(word)
        found.add(" ".join(words))
    return found


def test_readme_lists_every_command_and_only_real_ones(monkeypatch):
    monkeypatch.delenv("VLKD_PLUGINS", raising=False)
    real, listed = real_commands(), readme_commands()
    assert real - listed == set(), (
        f"add rows for these commands to the command table in docs/reference/commands.md: {real - listed}"
    )
    assert listed - real == set(), (
        f"the command table in docs/reference/commands.md lists commands the CLI lacks: {listed - real}"
    )
