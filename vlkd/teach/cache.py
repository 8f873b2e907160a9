"""The persistent teacher response cache: a response once paid for is never paid for again.

One JSON file per response under ``<run>/cache/teach/``, named by the hash of everything
that decides the response: the image bytes, the rendered prompt, the plugin, the model and
the generation parameters (never the key). It survives ``--fresh`` and re-runs.

The answers of a batch come in tens of thousands at once: a file each would cost the file
system more than everything else the batch does (0.6 ms per file here, a minute per 100,000
answers), so they are written as *packs*, one JSONL file per collected batch under
``packs/`` (``{"key": ..., "value": ...}`` a line), indexed in memory on first use. A torn
last line (a kill while writing) is not indexed: its answer is collected again, for free.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from vlkd.core.jsonl import dumps, write_json_atomic
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


PACK_DIR = "packs"
#: how long a subfolder found missing is taken to be missing without looking again (another
#: process writing this run's cache would be seen this much later; this one's own writes at once)
MISSING_FOR_S = 2.0
_PACK_HEAD = b'{"key": "'
#: a packed entry's place, one int: its pack's number above this many bits of its offset (a
#: tuple of two ints per entry cost 100,000 answers 8 MB more)
_OFFSET_BITS = 40


class PackWriter:
    """Appends entries to one pack file (buffered; :meth:`close` flushes and syncs it)."""

    def __init__(self, path: Path, number: int, index: dict[str, int]):
        self.path = path
        self._number = number
        self._index = index
        self._fh: IO[bytes] = path.open("wb")
        self._offset = 0
        self.count = 0

    def add(self, key: str, value: dict[str, Any]) -> None:
        line = b'{"key": "%s", "value": %s}\n' % (
            key.encode("ascii"),
            dumps(value).encode("utf-8"),
        )
        self._fh.write(line)  # buffered: ``get`` flushes before it reads this pack (``flush``)
        self._index[key] = self._number << _OFFSET_BITS | self._offset
        self._offset += len(line)
        self.count += 1

    def flush(self) -> None:
        """What was added, readable from the file (by ``ResponseCache.get``)."""
        if not self._fh.closed:
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


class ResponseCache:
    r"""The cache files, and the entries :meth:`queue`\ d to be written by :meth:`write_queued`
    (``get`` sees them at once; until written, the call journal is what keeps them)."""

    def __init__(self, root: Path, *, read: bool = True):
        self.root = root / "teach"
        self.read = read
        self._dir = str(self.root)
        self.queued: dict[str, dict[str, Any]] = {}
        #: key -> where its line is (pack number << _OFFSET_BITS | offset), read from ``packs/`` on first use
        self._index: dict[str, int] | None = None
        self._packs: list[Path] = []
        self._readers: dict[int, IO[bytes]] = {}
        #: the packs being written (by number): flushed before one of their entries is read
        self._writing: dict[int, PackWriter] = {}
        #: subfolders of entry files found missing, and when: a batch run looks up 100,000 keys
        #: that no file holds, and a failed open each cost more than the rest of the look-up
        self._missing: dict[str, float] = {}

    def _path(self, key: str) -> str:
        return os.path.join(self._dir, key[:2], key + ".json")

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.read:
            return None
        queued = self.queued.get(key)
        if queued is not None:
            return queued
        packed = self.index().get(key)
        if packed is not None:
            value = self._packed(packed >> _OFFSET_BITS, packed & ((1 << _OFFSET_BITS) - 1))
            if value is not None:
                return value
        sub = key[:2]
        seen = self._missing.get(sub)
        if seen is not None and time.monotonic() - seen < MISSING_FOR_S:
            return None
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                return json.loads(fh.read())
        except FileNotFoundError:
            # noted before the folder is looked at: a writer thread creating it meanwhile either
            # clears the note after this (``put``) or made the folder before the look below
            self._missing[sub] = time.monotonic()
            if os.path.isdir(os.path.join(self._dir, sub)):
                self._missing.pop(sub, None)
            return None
        except (OSError, ValueError):
            return None  # a damaged entry is asked for again and overwritten

    def has(self, key: str) -> bool:
        return self.read and (key in self.queued or self.stored(key))

    def stored(self, key: str) -> bool:
        """Whether the entry is on disk (also under ``--no-cache``, which only stops reading)."""
        return key in self.index() or os.path.exists(self._path(key))

    # -- packs -------------------------------------------------------------------------------
    def index(self) -> dict[str, int]:
        """Where each packed entry is (the packs are read once, keys only)."""
        if self._index is None:
            self._index = {}
            folder = self.root / PACK_DIR
            for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else ():
                self._scan(path)
        return self._index

    def _scan(self, path: Path) -> None:
        assert self._index is not None
        number = len(self._packs)
        self._packs.append(path)
        offset = 0
        with path.open("rb") as fh:
            for line in fh:
                if line.endswith(b"\n") and line.startswith(_PACK_HEAD):
                    end = line.find(b'"', len(_PACK_HEAD))
                    if end > 0:
                        self._index[line[len(_PACK_HEAD) : end].decode("ascii")] = (
                            number << _OFFSET_BITS | offset
                        )
                offset += len(line)

    def _packed(self, number: int, offset: int) -> dict[str, Any] | None:
        writer = self._writing.get(number)
        if writer is not None:
            writer.flush()
        fh = self._readers.get(number)
        if fh is None:
            fh = self._readers[number] = self._packs[number].open("rb")
        fh.seek(offset)
        try:
            return json.loads(fh.readline())["value"]
        except (ValueError, KeyError, TypeError):
            return None  # damaged: asked for again

    def pack(self, name: str) -> PackWriter:
        """A new pack for many entries at once (a batch's answers); :meth:`PackWriter.close` makes
        it durable. Its entries are seen by :meth:`get` as they are added."""
        index = self.index()
        folder = self.root / PACK_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.jsonl"
        n = 1
        while path.exists():  # a batch collected again (a kill before it was recorded as collected)
            n += 1
            path = folder / f"{name}-{n}.jsonl"
        self._packs.append(path)
        writer = self._writing[len(self._packs) - 1] = PackWriter(path, len(self._packs) - 1, index)
        return writer

    def close(self) -> None:
        for fh in self._readers.values():
            fh.close()
        self._readers.clear()

    def put(self, key: str, value: dict[str, Any]) -> None:
        write_json_atomic(self._path(key), value)
        self._missing.pop(key[:2], None)

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
