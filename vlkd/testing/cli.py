"""The ``vlkd`` command line in a subprocess, as a person runs it, and a reviewer's edit of a sheet."""

from __future__ import annotations

import csv
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: the plugins of vlkd.testing.fixture_plugins (a counting ingestor, a report stage, ...)
FIXTURE_PLUGINS = "vlkd.testing.fixture_plugins"


def ctrl_c_reaches_it() -> None:
    """``preexec_fn`` for a child that a test sends Ctrl-C (SIGINT): restore its default action.

    A shell that starts a job in the background (``cmd &``, as some CI runners do) leaves SIGINT
    ignored in it and in all its children; Python then never raises KeyboardInterrupt, and the
    interrupted run finishes as if nothing happened."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_vlkd(
    *args: str, cwd: str | os.PathLike[str] | None = None, **env: str
) -> subprocess.CompletedProcess:
    """``python -m vlkd ARGS`` with a wide console (``VLKD_PLUGINS=`` ... through ``env``)."""
    full = {**os.environ, "COLUMNS": "250", **env}
    return subprocess.run(
        [sys.executable, "-m", "vlkd", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600
    )


def start_vlkd(*args: str, cwd: str | os.PathLike[str] | None = None, **env: str) -> subprocess.Popen:
    """``python -m vlkd ARGS`` started in the background, as a person's shell does, so that a test
    can send it Ctrl-C (SIGINT); its output is text on ``stdout``/``stderr`` pipes."""
    full = {**os.environ, "COLUMNS": "250", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "vlkd", *args],
        cwd=cwd,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )


def wait_until(proc: subprocess.Popen, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; fails saying ``what`` (or with the output of ``proc``
    when it ended first)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def run_vlkd_on_terminal(
    *args: str, columns: int = 120, rows: int = 40, timeout: float = 600
) -> tuple[int, str]:
    """``python -m vlkd ARGS`` on a pseudo-terminal of ``columns`` x ``rows``, as in a person's
    shell: ``(exit status, everything it printed)``.

    The size matters: on a terminal of size 0 (a bare pty) tqdm prints nothing, and a test of
    what a person sees would pass for the wrong reason. The libraries' own switches for their
    bars are left unset, as on a new machine.
    """
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    env = {k: v for k, v in os.environ.items() if "PROGRESS_BARS" not in k and not k.startswith("TQDM_")}
    env.pop("COLUMNS", None)
    env["TERM"] = "xterm-256color"
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlkd", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None:
                break
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(), out.decode("utf-8", "replace")


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


def command_tree():
    """The whole ``vlkd`` command line as click sees it, built-in command groups included."""
    import typer.main

    from vlkd.cli import app
    from vlkd.commands import register_commands

    register_commands(app, autoload=False)
    return typer.main.get_command(app)


def leaf_commands() -> list[str]:
    """Every command a user can run (``review serve``, ``score``), hidden ones left out."""
    found: list[str] = []

    def walk(command, prefix: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            if getattr(sub, "hidden", False):
                continue
            if getattr(sub, "commands", None):
                walk(sub, (*prefix, name))
            else:
                found.append(" ".join((*prefix, name)))

    walk(command_tree(), ())
    return found
