"""Per-item results of a stage, kept on disk so that a killed stage resumes per item.

One line per finished item: ``{"key", "status", "records", "reason"}``. An item's output
records and its status are written in one atomic append, so after ``kill -9`` an item is
either finished (and never done again) or not started (and done on resume). Items that
*failed* are tried again by a resumed stage; skipped items are not (their input is bad).

Memory stays flat however many items a stage has: the ledger keeps only an index (each key's
status and the offset of its latest line in the file); an entry is read back from the file
when someone asks for it (:attr:`Ledger.entries`, :meth:`Ledger.records`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

from vlkd.core.jsonl import JsonlAppender, dumps, parse_line

Status = Literal["ok", "skipped", "failed"]
LEDGER_FILE = "ledger.jsonl"
#: an index value is ``offset << 2 | status code``: one int per key
_CODES: dict[str, int] = {"ok": 0, "skipped": 1, "failed": 2}


class Ledger:
    def __init__(self, stage_dir: Path):
        self.path = stage_dir / LEDGER_FILE
        self._out = JsonlAppender(self.path)  # cuts a torn tail off first
        #: key -> offset of its latest line << 2 | its status code
        self._index: dict[str, int] = {}
        self._end = self._scan()
        self._reader: BinaryIO | None = None
        self.entries: Mapping[str, dict[str, Any]] = _Entries(self)

    def _scan(self) -> int:
        offset = 0
        with self.path.open("rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                if raw.strip():
                    entry = parse_line(raw, f"{self.path}:{line_no}")  # the tail is whole (repaired)
                    self._index[entry["key"]] = offset << 2 | _CODES.get(entry["status"], 2)
                offset += len(raw)
        return offset

    @property
    def repaired(self) -> bool:
        return self._out.repaired_bytes > 0

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def status(self, key: str) -> Status | None:
        at = self._index.get(key)
        return None if at is None else ("ok", "skipped", "failed")[at & 3]

    def finished(self, key: str) -> bool:
        at = self._index.get(key)
        return at is not None and at & 3 != _CODES["failed"]

    def entry(self, key: str) -> dict[str, Any] | None:
        """The key's latest entry, read from the file."""
        at = self._index.get(key)
        return None if at is None else self._read(at >> 2)

    def _read(self, offset: int) -> dict[str, Any]:
        if self._reader is None:
            self._reader = self.path.open("rb")
        self._reader.seek(offset)
        return json.loads(self._reader.readline())

    def record(
        self, key: str, status: Status, records: Iterable[Any] = (), reason: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"key": key, "status": status, "records": list(records)}
        if reason:
            entry["reason"] = reason
        entry.update(extra)
        data = (dumps(entry) + "\n").encode("utf-8")
        self._out.write(data)
        self._index[key] = self._end << 2 | _CODES[status]
        self._end += len(data)
        return entry

    def records(self, keys: Iterable[str] | None = None) -> Iterator[Any]:
        """Output records of finished items, in ``keys`` order (default: ledger order)."""
        for key in self._index if keys is None else keys:
            at = self._index.get(key)
            if at is not None and at & 3 == _CODES["ok"]:
                yield from self._read(at >> 2)["records"]

    def close(self) -> None:
        self._out.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class _Entries(Mapping[str, dict[str, Any]]):
    """The ledger's entries by key, each read from the file when asked for (nothing kept)."""

    def __init__(self, ledger: Ledger):
        self._ledger = ledger

    def __getitem__(self, key: str) -> dict[str, Any]:
        entry = self._ledger.entry(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def __contains__(self, key: object) -> bool:
        return key in self._ledger

    def __iter__(self) -> Iterator[str]:
        return iter(self._ledger._index)

    def __len__(self) -> int:
        return len(self._ledger)
