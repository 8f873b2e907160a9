"""Everything experts sent back to a run, in order, outside the stage directories.

``RUN_DIR/review-imports/`` (kept when the review stage re-runs):

- ``imports.jsonl``: the log, one line per expert input, in the order it was made:
  ``{"kind": "sheet", "file": ...}`` for an imported sheet (its copy lies beside it), and
  ``{"kind": "decision", ...}`` for a decision made in the review page (see
  :mod:`.decisions`). Lines are appended atomically and a torn last line is repaired
  (:class:`vlkd.core.jsonl.JsonlAppender`), so a killed server or browser loses nothing saved.
- ``audit.jsonl``: who changed what, when, before and after, one line per change.
- ``.lock``: held while a writer checks a change against the log and appends it, so that two
  servers, or a server and ``vlkd review import``, never both accept edits of one version.

The review stage replays the log on every run (:func:`.imports.load_state`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vlkd.api import DECISIONS_DIR as IMPORTS_DIR
from vlkd.api import JsonlAppender

LOG = "imports.jsonl"
AUDIT = "audit.jsonl"
LOCK = ".lock"


def log_path(run_dir: Path, name: str = LOG) -> Path:
    return run_dir / IMPORTS_DIR / name


def entry_kind(entry: dict[str, Any]) -> str:
    return entry.get("kind", "sheet")  # lines written before decisions existed are sheets


def read_log(run_dir: Path, offset: int = 0, *, name: str = LOG) -> tuple[list[dict[str, Any]], int]:
    """The whole lines of the log from byte ``offset`` on, and the offset after the last one.

    A torn last line (a writer killed mid-write) is not read; the next append repairs it.
    """
    path = log_path(run_dir, name)
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    entries = []
    for line_no, raw in enumerate(data[:end].splitlines(), 1):
        if raw.strip():
            try:
                entries.append(json.loads(raw))
            except json.JSONDecodeError:
                raise ValueError(
                    f"{path}: line {line_no} after byte {offset} is not valid JSON; fix or delete it"
                ) from None
    return entries, offset + end


def log_size(run_dir: Path, name: str = LOG) -> int:
    try:
        return log_path(run_dir, name).stat().st_size
    except FileNotFoundError:
        return 0


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the log's lock (blocking: writers hold it for milliseconds)."""
    base = run_dir / IMPORTS_DIR
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def append(
    run_dir: Path, entry: dict[str, Any], audit: Iterable[dict[str, Any]] = (), *, name: str = LOG
) -> None:
    """Append one entry to the log (durably), then its lines to the audit trail; hold :func:`locked`.
    ``name``: another log beside it (the team's, :mod:`.team.log`)."""
    with JsonlAppender(log_path(run_dir, name)) as log:
        log.append(entry)
        log.flush()
    lines = list(audit)
    if lines:
        with JsonlAppender(run_dir / IMPORTS_DIR / AUDIT) as trail:
            trail.append_many(lines)
