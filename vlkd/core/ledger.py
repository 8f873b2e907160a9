"""Per-item results of a stage, kept on disk so that a killed stage resumes per item.

One line per finished item: ``{"key", "status", "records", "reason"}``. An item's output
records and its status are written in one atomic append, so after ``kill -9`` an item is
either finished (and never done again) or not started (and done on resume). Items that
*failed* are tried again by a resumed stage; skipped items are not (their input is bad).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from vlkd.core.jsonl import JsonlAppender, read_jsonl

Status = Literal["ok", "skipped", "failed"]
LEDGER_FILE = "ledger.jsonl"


class Ledger:
    def __init__(self, stage_dir: Path):
        self.path = stage_dir / LEDGER_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        for entry in read_jsonl(self.path):
            self.entries[entry["key"]] = entry
        self._out = JsonlAppender(self.path)

    @property
    def repaired(self) -> bool:
        return self._out.repaired_bytes > 0

    def finished(self, key: str) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry["status"] != "failed"

    def record(
        self, key: str, status: Status, records: Iterable[Any] = (), reason: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"key": key, "status": status, "records": list(records)}
        if reason:
            entry["reason"] = reason
        entry.update(extra)
        self._out.append(entry)
        self.entries[key] = entry
        return entry

    def records(self, keys: Iterable[str] | None = None) -> Iterable[Any]:
        """Output records of finished items, in ``keys`` order (default: ledger order)."""
        for key in self.entries if keys is None else keys:
            entry = self.entries.get(key)
            if entry is not None and entry["status"] == "ok":
                yield from entry["records"]

    def close(self) -> None:
        self._out.close()
