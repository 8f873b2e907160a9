"""The run's pairs as the review page sees them: compact in memory, every decision logged first.

Memory does not grow with the text of the pairs: the store keeps, per pair, its byte offset
in the teacher's ``pairs.jsonl``, its image, status, category, ``negative`` and flags as
small integers, and reads a pair's text from the file when its image is shown. Pairs that
experts changed (the review log, :mod:`..journal`) are kept whole in ``overlay``.

A decision is checked and appended under the log's lock after catching up with lines that
others appended (a second server, ``vlkd review import``), so an edit made on a version
that is no longer current is refused, never written over.

A ``vlkd run`` may rewrite the pairs while the page is open (verify run again): the store reads
through the files it opened, so it never reads a line of the new file at an old offset, and
every request first looks whether the files were replaced and, if so, loads the new ones.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

from vlkd.api import (
    DOUBTED,
    REASSURED,
    Flag,
    ImageRecord,
    QARecord,
    VlkdError,
    image_path,
    record_at,
    review_rank,
    scan_records,
    student_answer,
)
from vlkd.plugins.review import decisions, journal
from vlkd.plugins.review.cells import shown_name
from vlkd.plugins.review.last_run import last_run_summary
from vlkd.plugins.review.sheet import pair_version

STATUSES = ("pending", "approved", "rejected", "edited")
_CODE = {s: i for i, s in enumerate(STATUSES)}
_PAIR = "a question/answer record"
_IMAGE = "an image record"


class ReviewStore:
    def __init__(self, run_dir: Path):
        from vlkd.api import RunDir
        from vlkd.plugins.review.imports import stage_inputs

        self.run_dir = RunDir(run_dir).path
        manifest = RunDir(self.run_dir).read_manifest()
        if manifest is None:
            raise VlkdError(f"{self.run_dir}: not a vlkd run directory (no manifest.json)")
        self.run_name = manifest.get("recipe", {}).get("name", self.run_dir.name)
        self.last_run = last_run_summary(self.run_dir, manifest)
        self.pairs_file, self.images_file = stage_inputs(self.run_dir, manifest)
        self.lock = threading.RLock()  # held by every read and write of the page's routes
        self._open: dict[Path, tuple[Any, tuple[int, ...]]] = {}
        #: how often a run's rewrite of the pairs was loaded while serving
        self.reloads = 0
        self._load()

    # -- the files as opened -------------------------------------------------------------
    def _file(self, path: Path) -> Any:
        """``path`` as this store opened it (the same file until :meth:`_load` opens it again)."""
        return self._open[path][0]

    def _open_all(self) -> None:
        for fh, _ in self._open.values():
            fh.close()
        self._open = {}
        for path in (self.pairs_file, self.images_file):
            if path is None:
                continue
            try:
                fh = path.open("rb")
            except FileNotFoundError:
                raise VlkdError(f"{path}: missing; re-run the stage that writes it") from None
            self._open[path] = (fh, _identity(os.fstat(fh.fileno())))

    def _rewritten(self) -> bool:
        """A run replaced the pairs or images since they were loaded (a missing file: a stage is
        writing it now; the old one is served until the new one is there)."""
        for path, (_, seen) in self._open.items():
            try:
                if _identity(os.stat(path)) != seen:
                    return True
            except FileNotFoundError:
                continue
        return False

    def refresh(self) -> None:
        """Load the run's pairs again when a run rewrote them (call holding ``lock``)."""
        if self._rewritten():
            self._load()
            self.reloads += 1

    # -- loading -------------------------------------------------------------------------
    def _load(self) -> None:
        self._open_all()
        self.categories: list[str] = []
        self._category_ids: dict[str, int] = {}
        self.flag_sets: list[tuple[str, ...]] = [()]
        #: each flag set's ``review_rank`` (doubted, unflagged, reassured), parallel to flag_sets
        self.flag_ranks: list[int] = [review_rank([])]
        self._flag_ids: dict[tuple[tuple[str, ...], int], int] = {((), self.flag_ranks[0]): 0}
        self.image_offsets = array("q")
        self.image_ids: dict[str, int] = {}
        if self.images_file is not None:
            for offset, image in scan_records(
                self.images_file, ImageRecord, _IMAGE, fh=self._file(self.images_file)
            ):
                self.image_ids[image.id] = len(self.image_offsets)
                self.image_offsets.append(offset)
        self.image_pairs: list[array] = [array("l") for _ in self.image_offsets]
        self._risk_cache: tuple[tuple[int, int] | None, list[tuple[int, int]], list[int] | None] = (
            None,
            [],
            None,
        )
        self.pair_offsets = array("q")  # -1: an added pair, only in the overlay
        self.pair_image = array("l")
        self.pair_status = bytearray()
        self.pair_negative = bytearray()
        self.pair_category = array("l")
        self.pair_flags = array("l")
        self.overlay: dict[int, QARecord] = {}
        self.last_change: dict[int, str] = {}
        ids: dict[str, int] = {}
        for offset, pair in scan_records(self.pairs_file, QARecord, _PAIR, fh=self._file(self.pairs_file)):
            ids[pair.id] = self._add(pair, offset)
        log, self.log_offset = journal.read_log(self.run_dir)
        if any(journal.entry_kind(e) == "sheet" for e in log):
            self._load_sheets(ids)  # sheets need the whole review state; decisions replay below
        else:
            for entry in log:
                self._replay(entry, ids.get(entry["pair_id"]))
        self.counts = Counter(
            (self.pair_category[i], self.pair_status[i]) for i in range(len(self.pair_status))
        )

    def _load_sheets(self, ids: dict[str, int]) -> None:
        from vlkd.plugins.review.imports import load_state

        state = load_state(self.run_dir, self.pairs_file, self.images_file)
        for change in state.changes:
            pair = state.pairs[change.pair_id]
            index = ids.get(change.pair_id)
            if index is None:
                ids[change.pair_id] = index = self._add(pair, -1)
            self._set(index, pair)
            self.last_change[index] = change.reviewer or Path(change.source or "a sheet").name

    def _category(self, name: str | None) -> int:
        key = name or ""
        if key not in self._category_ids:
            self._category_ids[key] = len(self.categories)
            self.categories.append(key)
        return self._category_ids[key]

    def _flags(self, flags: list[Flag]) -> int:
        names, rank = tuple(sorted({f.flag for f in flags})), review_rank(flags)
        key = (names, rank)
        if key not in self._flag_ids:
            self._flag_ids[key] = len(self.flag_sets)
            self.flag_sets.append(names)
            self.flag_ranks.append(rank)
        return self._flag_ids[key]

    def _add(self, pair: QARecord, offset: int) -> int:
        index = len(self.pair_offsets)
        image = self.image_ids.get(pair.image_id, -1)
        self.pair_offsets.append(offset)
        self.pair_image.append(image)
        self.pair_status.append(_CODE[pair.review])
        self.pair_negative.append(pair.negative)
        self.pair_category.append(self._category(pair.category))
        self.pair_flags.append(self._flags(pair.flags))
        if image >= 0:
            self.image_pairs[image].append(index)
        if offset < 0:
            self.overlay[index] = pair
        return index

    def _set(self, index: int, pair: QARecord) -> None:
        self.overlay[index] = pair
        self.pair_status[index] = _CODE[pair.review]
        self.pair_negative[index] = pair.negative

    def _replay(self, entry: dict[str, Any], index: int | None) -> None:
        if journal.entry_kind(entry) != "decision":
            return
        if entry["action"] == "add":
            if index is None:
                index = self._add(decisions.apply(None, entry), -1)
        elif index is None:
            return  # the pair is gone (teacher re-run); the stage warns about it
        else:
            self._set(index, decisions.apply(self.pair(index), entry))
        self.last_change[index] = entry.get("reviewer") or "someone"

    def _catch_up(self) -> None:
        """Apply what others appended to the log since we last read it (hold the log's lock)."""
        if journal.log_size(self.run_dir) == self.log_offset:
            return
        entries, offset = journal.read_log(self.run_dir, self.log_offset)
        if any(journal.entry_kind(e) == "sheet" for e in entries):
            self._load()  # a sheet was imported meanwhile: rebuild
            return
        for entry in entries:
            old = self._find(entry.get("image_id"), entry["pair_id"])
            before = None if old is None else self.pair_status[old]
            self._replay(entry, old)
            index = old if old is not None else self._find(entry.get("image_id"), entry["pair_id"])
            if index is not None:
                self._count(index, before)
        self.log_offset = offset

    def _count(self, index: int, before: int | None) -> None:
        category = self.pair_category[index]
        if before is not None:
            self.counts[(category, before)] -= 1
        self.counts[(category, self.pair_status[index])] += 1

    # -- reading -------------------------------------------------------------------------
    def pair(self, index: int) -> QARecord:
        found = self.overlay.get(index)
        return (
            found
            if found is not None
            else record_at(
                self.pairs_file, self.pair_offsets[index], QARecord, _PAIR, fh=self._file(self.pairs_file)
            )
        )

    def image(self, n: int) -> ImageRecord:
        assert self.images_file is not None
        return record_at(
            self.images_file, self.image_offsets[n], ImageRecord, _IMAGE, fh=self._file(self.images_file)
        )

    def image_file(self, n: int) -> Path | None:
        """The file of image ``n`` of the run's image records, or None (never from a request's text)."""
        if not 0 <= n < len(self.image_offsets):
            return None
        path = image_path(self.run_dir, self.image(n).path)
        return path if path.is_file() else None

    def _find(self, image_id: str | None, pair_id: str) -> int | None:
        n = self.image_ids.get(image_id or "")
        if n is None:
            return None
        for index in self.image_pairs[n]:
            if self.pair(index).id == pair_id:
                return index
        return None

    def current(self, image_n: int, pair_id: str) -> dict[str, Any] | None:
        with self.lock:
            self.refresh()
            if not 0 <= image_n < len(self.image_pairs):
                return None
            index = self._find(self.image(image_n).id, pair_id)
            return None if index is None else self.pair_json(index)

    def pair_json(self, index: int, pair: QARecord | None = None) -> dict[str, Any]:
        """The pair as the page gets it (JSON); ``pair``: another version of it (a reviewer's copy).
        ``student``: the student's own answer when a check asked it (untrusted text, like the rest)."""
        pair = pair if pair is not None else self.pair(index)
        student = student_answer(pair)
        return {
            "id": pair.id,
            "question": pair.question,
            "answer": pair.answer,
            "negative": pair.negative,
            "review": pair.review,
            "comment": pair.comment or "",
            "category": pair.category or "",
            "provenance": {"plugin": pair.provenance.plugin, "model": pair.provenance.model},
            "flags": [
                {"check": f.check, "flag": f.flag, "reason": f.reason, "doubt": review_rank([f]) == DOUBTED}
                for f in pair.flags
            ],
            "student": None if student is None else {"answer": student[0], "agreement": student[1]},
            "version": pair_version(pair),
            "changed_by": self.last_change.get(index),
        }

    def image_json(self, n: int, shown: list[int] | None = None) -> dict[str, Any]:
        """The image and its pairs as the page gets them (JSON)."""
        rec = self.image(n)
        metadata = rec.metadata
        sources = rec.sources
        name = shown_name(Path(sources[0].path).name if sources else Path(rec.path).name)
        if sources and sources[0].page:
            name += f" #page {sources[0].page}"
        indices = list(self.image_pairs[n])
        order = sorted(indices, key=self.rank)  # doubted first, reassured last
        visible = set(indices if shown is None else shown)
        return {
            "index": n,
            "name": name,
            "category": rec.category or "",
            "brand": metadata.get("brand") or "",
            "vehicle_model": metadata.get("vehicle_model") or "",
            "width": rec.width,
            "height": rec.height,
            "url": f"img/{n}",
            "pairs": [self.pair_json(i) for i in order if i in visible],
            "hidden": len(indices) - len(visible & set(indices)),
        }

    # -- queue and progress --------------------------------------------------------------
    def rank(self, index: int) -> int:
        """The pair's ``review_rank``: doubted (a check doubts it), unflagged, reassured."""
        return self.flag_ranks[self.pair_flags[index]]

    def doubted(self, indices: Any) -> int:
        """How many of these pairs a check doubts (an image's risk)."""
        return sum(1 for i in indices if self.rank(i) == DOUBTED)

    def risk_key(self, indices: Any) -> tuple[int, int]:
        """An image's place in a risk-first queue: more doubted pairs first; among equals, fewer
        pairs the student already knows first."""
        return (-self.doubted(indices), sum(1 for i in indices if self.rank(i) == REASSURED))

    def matches(self, index: int, filters: dict[str, str]) -> bool:
        category = filters.get("category")
        if category and self.categories[self.pair_category[index]] != category:
            return False
        status = filters.get("status")
        if status == "reviewed":
            if self.pair_status[index] == 0:
                return False
        elif status and STATUSES[self.pair_status[index]] != status:
            return False
        negative = filters.get("negative")
        if negative in ("yes", "no") and bool(self.pair_negative[index]) != (negative == "yes"):
            return False
        flag = filters.get("flag")
        flags = self.flag_sets[self.pair_flags[index]]
        if flag == "any":
            return bool(flags)
        if flag == "none":
            return not flags
        return not flag or flag in flags

    def queue(self, filters: dict[str, str], order: str = "risk") -> list[int]:
        """Images with a pair that matches ``filters``; risk first: images with more doubted pairs
        first (``student_wrong`` and the other checks' doubts), the student's known pairs last."""
        self.refresh()
        active = {k: v for k, v in filters.items() if v}
        if not active and order == "risk":
            return list(self.risk_queue())
        keys = self.risk_keys() if order == "risk" else None
        images = []
        for n, indices in enumerate(self.image_pairs):
            if not indices:
                continue
            if active and not any(self.matches(i, active) for i in indices):
                continue
            images.append((keys[n] if keys is not None else (0, 0), n))
        images.sort()
        return [n for _, n in images]

    def _stamp(self) -> tuple[int, int]:
        # a pair's flags never change once read; only a reload (new arrays) or an added pair
        # (one more) changes an image's risk
        return (id(self.pair_flags), len(self.pair_flags))

    def risk_keys(self) -> list[tuple[int, int]]:
        """Every image's :meth:`risk_key`, computed once per set of pairs (the page's first
        request at 50,000 pairs spent 90% of its time here)."""
        if self._risk_cache[0] != self._stamp():
            ranks = [self.flag_ranks[f] for f in self.pair_flags]
            keys = []
            for indices in self.image_pairs:
                shown = [ranks[i] for i in indices]
                keys.append((-shown.count(DOUBTED), shown.count(REASSURED)))
            self._risk_cache = (self._stamp(), keys, None)
        return self._risk_cache[1]

    def risk_queue(self) -> list[int]:
        """The unfiltered risk-first queue (the page's first view), kept with the keys."""
        keys = self.risk_keys()
        stamp, _, queue = self._risk_cache
        if queue is None:
            queue = sorted((n for n, indices in enumerate(self.image_pairs) if indices), key=keys.__getitem__)
            self._risk_cache = (stamp, keys, queue)
        return queue

    def shown_pairs(self, n: int, filters: dict[str, str]) -> list[int]:
        active = {k: v for k, v in filters.items() if v}
        return [i for i in self.image_pairs[n] if not active or self.matches(i, active)]

    def progress(self) -> dict[str, Any]:
        per: dict[str, dict[str, int]] = {}
        for (category, status), count in self.counts.items():
            entry = per.setdefault(self.categories[category] or "-", {"total": 0, "reviewed": 0})
            entry["total"] += count
            if status != 0:
                entry["reviewed"] += count
        return {
            "total": sum(e["total"] for e in per.values()),
            "reviewed": sum(e["reviewed"] for e in per.values()),
            "categories": dict(sorted(per.items())),
            "flags": sorted({f for fs in self.flag_sets for f in fs}),
            "last_run": self.last_run,
        }

    # -- writing -------------------------------------------------------------------------
    def decide(
        self,
        image_n: int,
        pair_id: str,
        action: str,
        fields: dict[str, Any],
        *,
        base: str | None,
        reviewer: str,
    ) -> dict[str, Any]:
        """Apply one decision; return the pair as now stored. Raises ``DecisionError``."""
        with self.lock, journal.locked(self.run_dir):
            self.refresh()
            self._catch_up()
            if not 0 <= image_n < len(self.image_pairs):
                raise decisions.NotFound(self._gone("no such image in this run"))
            image_id = self.image(image_n).id
            index = self._find(image_id, pair_id)
            if index is None:
                raise decisions.NotFound(self._gone("no such pair on this image (reload the page)"))
            pair = self.pair(index)
            try:
                entry = decisions.decide(pair, action, fields, base=base, reviewer=reviewer)
            except decisions.Conflict as exc:
                who = self.last_change.get(index)
                raise decisions.Conflict(str(exc).replace("someone else", who or "someone else")) from None
            if entry is not None:
                journal.append(self.run_dir, entry, [decisions.audit_line(entry)])
                before = self.pair_status[index]
                self._replay(entry, index)
                self._count(index, before)
                self.log_offset = journal.log_size(self.run_dir)
            return self.pair_json(index)

    def _gone(self, message: str) -> str:
        if not self.reloads:
            return message
        return (
            "the run changed: a `vlkd run` rewrote the pairs since this page was loaded, and this one "
            "is not among them any more; copy your text, then reload the page"
        )

    def add(self, image_n: int, fields: dict[str, Any], *, reviewer: str) -> dict[str, Any]:
        with self.lock, journal.locked(self.run_dir):
            self.refresh()
            self._catch_up()
            if not 0 <= image_n < len(self.image_pairs):
                raise decisions.NotFound("no such image in this run")
            image = self.image(image_n)
            questions = {self.pair(i).question.strip() for i in self.image_pairs[image_n]}
            entry = decisions.add_pair(image, fields, questions, reviewer=reviewer)
            journal.append(self.run_dir, entry, [decisions.audit_line(entry)])
            self._replay(entry, None)
            index = self.image_pairs[image_n][-1]
            self._count(index, None)
            self.log_offset = journal.log_size(self.run_dir)
            return self.pair_json(index)


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What tells a file replaced or rewritten from the one opened: device, inode, size, time."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
