"""The persistent teacher response cache: a response once paid for is never paid for again.

One JSON file per response under ``<run>/cache/teach/``, named by the hash of everything
that decides the response: the image bytes, the rendered prompt, the plugin, the model and
the generation parameters (never the key). It survives ``--fresh`` and re-runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from vlkd.core.jsonl import write_json_atomic
from vlkd.core.recipe import stable_hash


def cache_key(
    *,
    image_sha256: str,
    prompt_hash: str | None,
    plugin: str,
    model: str | None,
    params: dict[str, Any],
    attempt: int = 0,
) -> str:
    """``attempt`` > 0 names the responses asked for again because earlier ones could not be parsed."""
    return stable_hash(
        {
            "image": image_sha256,
            "prompt": prompt_hash,
            "plugin": plugin,
            "model": model,
            "params": params,
            "attempt": attempt,
        }
    )


class ResponseCache:
    r"""The cache files, and the entries :meth:`queue`\ d to be written by :meth:`write_queued`
    (``get`` sees them at once; until written, the call journal is what keeps them)."""

    def __init__(self, root: Path, *, read: bool = True):
        self.root = root / "teach"
        self.read = read
        self._dir = str(self.root)
        self.queued: dict[str, dict[str, Any]] = {}

    def _path(self, key: str) -> str:
        return os.path.join(self._dir, key[:2], key + ".json")

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.read:
            return None
        queued = self.queued.get(key)
        if queued is not None:
            return queued
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                return json.loads(fh.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a damaged entry is asked for again and overwritten

    def has(self, key: str) -> bool:
        return self.read and (key in self.queued or os.path.exists(self._path(key)))

    def stored(self, key: str) -> bool:
        """Whether the entry is on disk (also under ``--no-cache``, which only stops reading)."""
        return os.path.exists(self._path(key))

    def put(self, key: str, value: dict[str, Any]) -> None:
        write_json_atomic(self._path(key), value)

    def queue(self, key: str, value: dict[str, Any]) -> None:
        """An entry to write later, with others (its answer is in the call journal already)."""
        self.queued[key] = value

    def write_queued(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Write entries taken from :attr:`queued` (in a thread: it touches no shared state)."""
        for key, value in entries:
            self.put(key, value)


class CacheWriter:
    """Writes queued entries in a thread, with those queued in the same quarter second: file
    system calls must not hold up the calls in flight, and a thread hand-off per answer cost the
    event loop more than the write itself. Until an entry is written the call journal holds the
    answer (durable before :meth:`later` is called; a next session replays it into the cache),
    and the cache's ``get`` already returns it."""

    def __init__(self, cache: ResponseCache):
        self.cache = cache
        self._writer: asyncio.Future | None = None
        self._now: asyncio.Event | None = None

    def later(self, key: str, value: dict[str, Any]) -> None:
        """Queue an entry; a write is started within a quarter second."""
        self.cache.queue(key, value)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write(delay=0.25))

    async def _write(self, delay: float = 0.0) -> None:
        if delay:
            self._now = self._now or asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), delay)
        cache = self.cache
        while cache.queued:
            entries = list(cache.queued.items())
            await asyncio.to_thread(cache.write_queued, entries)
            for key, value in entries:
                if cache.queued.get(key) is value:
                    del cache.queued[key]

    async def finish(self) -> None:
        """Every queued entry on disk (the stage's end; also after a failure)."""
        writer = self._writer
        if writer is not None and not writer.done():
            assert self._now is not None
            self._now.set()
            await asyncio.gather(writer, return_exceptions=True)
            self._now.clear()
        await self._write()
