"""The docs' command table (docs/reference/commands.md) lists every command the CLI has, and no command it lacks."""

import re
from pathlib import Path

from vlkd.testing.cli import leaf_commands

TABLE = Path(__file__).parents[2] / "docs" / "reference" / "commands.md"


def real_commands() -> set[str]:
    return set(leaf_commands())


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
