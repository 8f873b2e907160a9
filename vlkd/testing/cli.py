"""The ``vlkd`` command line in a subprocess, as a person runs it, and a reviewer's edit of a sheet."""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: the plugins of vlkd.testing.fixture_plugins (a counting ingestor, a report stage, ...)
FIXTURE_PLUGINS = "vlkd.testing.fixture_plugins"


def run_vlkd(
    *args: str, cwd: str | os.PathLike[str] | None = None, **env: str
) -> subprocess.CompletedProcess:
    """``python -m vlkd ARGS`` with a wide console (``VLKD_PLUGINS=`` ... through ``env``)."""
    full = {**os.environ, "COLUMNS": "250", **env}
    return subprocess.run(
        [sys.executable, "-m", "vlkd", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600
    )


def run_printed(
    command: str, cwd: str | os.PathLike[str] | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Run a command exactly as vlkd printed it (``vlkd ...``, through this interpreter)."""
    words = shlex.split(command)
    assert words[0] == "vlkd", command
    return run_vlkd(*words[1:], cwd=cwd, **env)


def edit_sheet(sheet: Path, out: Path, edit: Callable[[list[dict[str, str]]], None]) -> Path:
    """Read a review CSV, let ``edit`` change its rows in place, write the result to ``out``."""
    with sheet.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    edit(rows)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out
