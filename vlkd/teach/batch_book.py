"""The record of a run's batches: ``cache/teach/batches.jsonl``, appended before anything else happens.

Events, one line each (a single ``os.write``, so a kill leaves each wholly there or not at all):

- ``submitting``: a chunk is about to be submitted (its file, request keys, worst-case cost);
- ``submitted``: the provider's batch id for a chunk (written as soon as the provider answers);
- ``collected``: a batch's results are in the response cache; the keys that got no answer, why;
- ``cancelled``: ``vlkd teach cancel`` asked the provider to stop it.

A resumed run polls the batches recorded here and never submits a key that an open batch
holds. The file lives beside the response cache, so ``--fresh`` keeps it, as it keeps the
answers: a batch paid for is collected, never submitted again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkd.core.jsonl import JsonlAppender, read_jsonl

BOOK_FILE = "batches.jsonl"


@dataclass
class Chunk:
    chunk: str
    path: str
    keys: list[str]
    images: list[str]
    worst_usd: float
    at: float
    plugin: str
    batch: str | None = None
    collected: bool = False
    cancelled: bool = False
    status: str | None = None
    #: key -> why it got no answer in this batch
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return not self.collected


class BatchBook:
    def __init__(self, cache_root: Path):
        self.path = cache_root / BOOK_FILE
        self.chunks: dict[str, Chunk] = {}
        self.by_batch: dict[str, Chunk] = {}
        #: key -> the chunk that held it, or the chunks, oldest first, when more than one did
        #: (one chunk per key for 100,000 keys, not a list each): see :meth:`held_by`
        self.by_key: dict[str, Chunk | list[Chunk]] = {}
        for event in read_jsonl(self.path):
            self._apply(event)
        self._out: JsonlAppender | None = None

    def _apply(self, e: dict[str, Any]) -> None:
        kind = e["event"]
        if kind == "submitting":
            c = Chunk(
                chunk=e["chunk"],
                path=e["path"],
                keys=e["keys"],
                images=e["images"],
                worst_usd=e.get("worst_usd", 0.0),
                at=e["at"],
                plugin=e.get("plugin", ""),
            )
            self.chunks[c.chunk] = c
            by_key = self.by_key
            for k in c.keys:
                was = by_key.get(k)
                if was is None:
                    by_key[k] = c
                elif isinstance(was, list):
                    was.append(c)
                else:
                    by_key[k] = [was, c]
        elif kind == "submitted":
            c = self.chunks[e["chunk"]]
            c.batch = e["batch"]
            self.by_batch[c.batch] = c
        elif kind == "collected":
            c = self.chunks[e["chunk"]]
            c.collected = True
            c.status = e.get("status")
            c.errors = e.get("errors", {})
        elif kind == "cancelled":
            self.by_batch[e["batch"]].cancelled = True
        elif kind == "gave_up":  # the tries so far made the image fail: a later run counts anew
            self.by_key.pop(e["key"], None)

    def _append(self, event: dict[str, Any]) -> None:
        if self._out is None:
            self._out = JsonlAppender(self.path)
        self._out.append(event)
        self._apply(event)

    # -- events ------------------------------------------------------------------------------
    def submitting(
        self, chunk: str, path: Path, keys: list[str], images: list[str], worst_usd: float, plugin: str
    ) -> Chunk:
        self._append(
            {
                "event": "submitting",
                "chunk": chunk,
                "path": str(path),
                "keys": keys,
                "images": images,
                "worst_usd": round(worst_usd, 8),
                "at": time.time(),
                "plugin": plugin,
            }
        )
        return self.chunks[chunk]

    def submitted(self, chunk: str, batch: str) -> None:
        self._append({"event": "submitted", "chunk": chunk, "batch": batch, "at": time.time()})

    def collected(self, chunk: str, status: str, errors: dict[str, str]) -> None:
        self._append({"event": "collected", "chunk": chunk, "status": status, "errors": errors})

    def gave_up(self, key: str) -> None:
        self._append({"event": "gave_up", "key": key, "at": time.time()})

    def cancelled(self, batch: str) -> None:
        self._append({"event": "cancelled", "batch": batch, "at": time.time()})

    # -- questions ---------------------------------------------------------------------------
    def open_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks.values() if c.open]

    def held_by(self, key: str) -> list[Chunk] | tuple[Chunk, ...]:
        """The chunks that held ``key``, oldest first."""
        found = self.by_key.get(key)
        return () if found is None else (found,) if isinstance(found, Chunk) else found

    def holding(self, key: str) -> Chunk | None:
        """The open chunk that holds ``key`` (its answer is on the way), if any."""
        found = self.by_key.get(key)
        if isinstance(found, Chunk):  # the usual case, asked for 100,000 keys: no generator
            return found if found.open else None
        return next((c for c in found or () if c.open), None)

    def tries(self, key: str) -> int:
        return len(self.held_by(key))

    def last_error(self, key: str) -> str | None:
        for c in reversed(self.held_by(key)):
            if key in c.errors:
                return c.errors[key]
        return None

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
