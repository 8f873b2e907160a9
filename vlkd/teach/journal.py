"""The call journal: each request written down as it is sent, each answer as it arrives.

A ``kill -9`` can come at any moment, also between an answer arriving and the response cache
file being written (that write runs in a thread so that it never holds up the calls in flight).
So before anything else happens to an answer, one line holding it is appended to
``cache/teach/journal.jsonl`` (a single ``os.write``: after a kill the line is wholly there or
not at all). The next session first replays the journal into the cache, so an answer that was
received is never asked for again.

The journal also knows which requests went out and never came back: the provider may well have
processed (and charged) them even though no answer arrived. Those are "possibly spent": each is
kept in the stage's ``unanswered.jsonl`` with its worst-case cost, and counted in the manifest's
usage, the summary and ``max_cost``.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from typing import Any

from vlkd.core.jsonl import JsonlAppender, read_jsonl
from vlkd.teach.cache import ResponseCache

JOURNAL_FILE = "journal.jsonl"
UNANSWERED_FILE = "unanswered.jsonl"


class CallJournal:
    def __init__(self, cache: ResponseCache, stage_dir: Path):
        self.cache = cache
        self.path = cache.root / JOURNAL_FILE
        self.unanswered_path = stage_dir / UNANSWERED_FILE
        self._session = uuid.uuid4().hex[:8]
        self._seq = itertools.count(1)
        self._out: JsonlAppender | None = None

    def _append(self, line: dict[str, Any]) -> None:
        if self._out is None:
            self._out = JsonlAppender(self.path)
        self._out.append(line)

    # -- while calls go --------------------------------------------------------------------
    def sent(self, key: str, image: str, worst_usd: float) -> str:
        """A request is about to go out: returns its id for :meth:`answered` / :meth:`failed`."""
        seq = f"{self._session}-{next(self._seq)}"
        self._append({"sent": seq, "key": key, "image": image, "worst_usd": round(worst_usd, 8)})
        return seq

    def answered(self, seq: str, key: str, response: dict[str, Any]) -> None:
        """The answer arrived: durable from now on, whatever happens next."""
        self._append({"done": seq, "key": key, "response": response})

    def failed(self, seq: str, *, maybe_spent: bool = False) -> None:
        """The call failed; ``maybe_spent`` when the provider may have run it (a timeout)."""
        self._append({"done": seq, **({"maybe_spent": True} if maybe_spent else {})})

    # -- between sessions --------------------------------------------------------------------
    def recover(self) -> int:
        """Replay the journal: answers into the cache, unanswered requests into the stage's list.

        Returns the number of answers that only the journal held. Safe to repeat (a kill while
        replaying replays again; the unanswered list is keyed by request id).
        """
        self.close()
        if not self.path.exists():
            return 0
        sent: dict[str, dict[str, Any]] = {}
        restored = 0
        for line in read_jsonl(self.path):
            if "sent" in line:
                sent[line["sent"]] = line
            elif "done" in line:
                if not line.get("maybe_spent"):
                    sent.pop(line["done"], None)
                if "response" in line and not self.cache.stored(line["key"]):
                    self.cache.put(line["key"], line["response"])
                    restored += 1
        known = {e.get("seq") for e in read_jsonl(self.unanswered_path)}
        lost = [
            {"seq": s, "key": e["key"], "image": e["image"], "worst_usd": e["worst_usd"]}
            for s, e in sent.items()
            if s not in known
        ]
        if lost:
            with JsonlAppender(self.unanswered_path) as out:
                out.append_many(lost)
        os.truncate(self.path, 0)
        return restored

    def unanswered(self) -> list[dict[str, Any]]:
        """Requests sent in this stage whose answers never arrived (possibly paid for)."""
        seen: dict[str, dict[str, Any]] = {}
        for entry in read_jsonl(self.unanswered_path):
            seen.setdefault(entry["seq"], entry)
        return list(seen.values())

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
