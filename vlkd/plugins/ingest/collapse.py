"""Collapse records with the same id (the same bytes) into one that keeps every source."""

from __future__ import annotations

from vlkd.core.records import ImageRecord


def collapse_duplicates(records: list[ImageRecord]) -> tuple[list[ImageRecord], int]:
    """``(records, duplicates_removed)``; the first record of an id wins, later ones add sources.

    Metadata keys the first record lacks are filled in from later ones; a different
    category is kept as a note, so a conflict is visible instead of silently lost.
    """
    out: dict[str, ImageRecord] = {}
    copied: set[str] = set()  # a record is copied only when a duplicate changes it (memory)
    duplicates = 0
    for rec in records:
        first = out.get(rec.id)
        if first is None:
            out[rec.id] = rec
            continue
        if rec.id not in copied:
            first = out[rec.id] = first.model_copy(deep=True)
            copied.add(rec.id)
        duplicates += 1
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
    return list(out.values()), duplicates
