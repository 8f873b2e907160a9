"""Files with the same bytes become one image record that keeps every source."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from vlkd.api import ImageRecord


class Collapsed:
    """The image records of ingest's results with each duplicate id collapsed into its first record.

    ``results`` (the records as dicts, in order) is read twice, or three times when some bytes
    were listed more than once: once for the ids, once (then) for the duplicates' merged records,
    and once as the records are written. Only the ids, and the records of duplicated ids, are
    kept in memory, so ingesting 10,000 files holds no record of each.

    The first record of an id wins and later ones add their sources; metadata keys the first
    record lacks are filled in from later ones; a different category is kept as a note, so a
    conflict is visible instead of silently lost.
    """

    def __init__(self, results: Iterable[dict[str, Any]]):
        self._results = results
        seen: set[str] = set()
        duplicated: set[str] = set()
        self.inputs = self.pdf_pages = 0
        for result in results:
            self.inputs += 1
            self.pdf_pages += result["sources"][0].get("page") is not None
            (duplicated if result["id"] in seen else seen).add(result["id"])
        self.images = len(seen)
        self.duplicates = self.inputs - self.images
        self._merged: dict[str, ImageRecord] = {}
        if duplicated:
            for result in results:
                if result["id"] in duplicated:
                    _merge(self._merged, ImageRecord.model_validate(result))

    def __iter__(self) -> Iterator[ImageRecord]:
        written: set[str] = set()
        for result in self._results:
            rid = result["id"]
            merged = self._merged.get(rid)
            if merged is None:
                yield ImageRecord.model_validate(result)
            elif rid not in written:
                written.add(rid)
                yield merged


def _merge(out: dict[str, ImageRecord], rec: ImageRecord) -> None:
    first = out.get(rec.id)
    if first is None:
        out[rec.id] = rec
        return
    for src in rec.sources:
        if src not in first.sources:
            first.sources.append(src)
    for key, value in rec.metadata.items():
        first.metadata.setdefault(key, value)
    other = rec.category
    if other and first.category is None:
        first.category = other
    elif other and other != first.category:
        first.notes.append(
            f"same bytes also listed as category '{other}' ({rec.sources[0].path}); kept '{first.category}'"
        )
