"""The trainers' checks of the student before any weights are loaded."""

from __future__ import annotations

import json
from pathlib import Path

from vlkd.api import hub_cache_file


def local_config(student: str) -> dict | None:
    """The student's ``config.json`` when it is available without a download, else None."""
    path = Path(student)
    file = path / "config.json" if path.is_dir() else hub_cache_file(student, "config.json")
    if file is None or not file.is_file():
        return None
    return json.loads(file.read_text(encoding="utf-8"))
