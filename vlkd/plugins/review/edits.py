"""Apply an expert's review sheet to the pairs: validate every row first, then change all or nothing.

Rules for a row:

- ``pair_id`` set: an existing pair. An untouched row (its fields still hash to ``version``)
  changes nothing. A changed question or answer makes the status ``edited`` (unless the
  expert chose ``rejected``). A pair keeps its id when its question is corrected, so later
  imports and the audit trail still find it.
- ``pair_id`` empty: a pair added by the expert, about the image named by ``image_path``
  (a path of one of the run's images, relative to the run directory or absolute) or by
  ``image`` (its file name); status defaults to ``approved``.

A row is invalid when it names an unknown pair or image, a path with ``..``, has an empty
question or answer, an unknown status or ``negative`` value, repeats another row (same pair,
or same image and question), or edits a pair that changed since the sheet was exported.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from vlkd.api import ImageRecord, Provenance, QARecord, VlkdError, image_path, student_answer
from vlkd.plugins.review.cells import nfc, sheet_form, shown_name
from vlkd.plugins.review.negative import negative_after
from vlkd.plugins.review.sheet import (
    STUDENT_COLUMN,
    SheetRow,
    flags_text,
    pair_values,
    risk_order,
    row_version,
)

STATUSES = ("pending", "approved", "rejected", "edited")
_TRUE = {"true", "yes", "y", "1", "是", "x"}
_FALSE = {"false", "no", "n", "0", "否", ""}


class ReviewFileError(VlkdError):
    """Rows of an imported review file are invalid; nothing was applied."""

    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        shown = problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else [])
        super().__init__(
            f"{path}: {len(problems)} invalid row(s); nothing was applied:\n"
            + "\n".join(f"  {p}" for p in shown)
        )


class ImageIndex:
    """The run's images: how the sheet shows them, and which sheet values name which image."""

    def __init__(self, images: list[ImageRecord], run_dir: Path):
        self.run_dir = run_dir
        self.by_id: dict[str, ImageRecord] = {}
        self.by_path: dict[str, str] = {}
        #: by path and by name in NFC: what a sheet re-saved by an application that composes
        #: Unicode (see :mod:`.cells`) says
        self.by_nfc_path: dict[str, set[str]] = {}
        self.by_name: dict[str, set[str]] = {}
        for rec in images:
            self.by_id[rec.id] = rec
            file = image_path(run_dir, rec.path)
            self.by_path[os.path.normpath(file)] = rec.id
            self.by_nfc_path.setdefault(nfc(os.path.normpath(file)), set()).add(rec.id)
            for name in self._names(rec, file):
                for key in {name, shown_name(name), nfc(shown_name(name))}:
                    self.by_name.setdefault(key, set()).add(rec.id)

    @staticmethod
    def _names(rec: ImageRecord, file: Path) -> set[str]:
        names = {file.name}
        for src in rec.sources:
            name = PurePosixPath(src.path).name
            names.add(f"{name}#page{src.page}" if src.page else name)
        return names

    def same_path(self, image_id: str, path: str) -> bool:
        """Whether a sheet's ``image_path`` names this image's file (in NFC or as written)."""
        return nfc(path) == nfc(self.display(image_id)[1])

    def display(self, image_id: str) -> tuple[str, str]:
        """(file name the expert knows, path of the file in the run) for the sheet."""
        rec = self.by_id.get(image_id)
        if rec is None:
            return "", ""
        file = image_path(self.run_dir, rec.path)
        if rec.sources:
            name = shown_name(PurePosixPath(rec.sources[0].path).name)
            if rec.sources[0].page:
                name += f"#page{rec.sources[0].page}"
        else:
            name = shown_name(file.name)
        try:
            shown = str(file.relative_to(self.run_dir))
        except ValueError:
            shown = str(file)
        return name, shown

    def find(self, name: str, path: str) -> tuple[str | None, str | None]:
        """(image id, None) or (None, why not)."""
        if path:
            parts = PureWindowsPath(path).parts if "\\" in path else PurePosixPath(path).parts
            if ".." in parts:
                return (
                    None,
                    f"image_path '{path}' contains '..'; name an image of this run (paths in the sheet)",
                )
            where = os.path.normpath(image_path(self.run_dir, path))
            twins = self.by_nfc_path.get(nfc(where), set())
            if len(twins) > 1 and name:  # names that differ only in Unicode form: the image column decides
                by_name = self.by_name.get(name, set()) | self.by_name.get(nfc(name), set())
                if len(by_name & twins) == 1:
                    return next(iter(by_name & twins)), None
            found = self.by_path.get(where)
            if found is None and len(twins) == 1:
                found = next(iter(twins))  # saved back in another Unicode form
            if found is None:
                return None, f"unknown image: image_path '{path}' is not an image of this run"
            return found, None
        if name:
            ids = self.by_name.get(name, set()) | self.by_name.get(nfc(name), set())
            ids |= {name} if name in self.by_id else set()
            if len(ids) == 1:
                return next(iter(ids)), None
            if len(ids) > 1:
                return (
                    None,
                    f"image '{name}' is ambiguous ({len(ids)} images have that name); fill in image_path",
                )
            return None, f"unknown image: '{name}' is not an image of this run"
        return None, "a new row (no pair_id) needs its image: fill in image_path or image"


@dataclass
class Change:
    """One change to one pair, for the audit trail."""

    pair_id: str
    action: str  # edit, add, auto_approve
    before: dict[str, Any]
    after: dict[str, Any]
    row: int | None = None
    source: str | None = None
    reviewer: str | None = None
    time: str | None = None
    originals: dict[str, Any] | None = None  # a team review: each reviewer's decision, the teacher's pair

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class ReviewState:
    """The pairs under review, in order, keyed by id."""

    pairs: dict[str, QARecord]
    images: ImageIndex
    changes: list[Change] = field(default_factory=list)

    def sheet_rows(self) -> list[dict[str, Any]]:
        """The rows of the review sheet, risk first (see :func:`.sheet.risk_order`)."""
        rows = []
        for pair in risk_order(list(self.pairs.values())):
            image, shown = self.images.display(pair.image_id)
            rec = self.images.by_id.get(pair.image_id)
            metadata = rec.metadata if rec else {}
            values = pair_values(pair)
            student = student_answer(pair)
            rows.append(
                {
                    "pair_id": pair.id,
                    "image": image,
                    "image_path": shown,
                    "brand": metadata.get("brand"),
                    "vehicle_model": metadata.get("vehicle_model"),
                    **values,
                    STUDENT_COLUMN: None if student is None else student[0],
                    "flags": flags_text(pair.flags),
                    "version": row_version(values),
                    "_image_id": pair.image_id,
                    "_file": str(image_path(self.images.run_dir, rec.path)) if rec else None,
                }
            )
        return rows

    def apply(
        self, rows: list[SheetRow], source: str, *, lenient: bool = False, warn: Any = None
    ) -> list[Change]:
        """Validate all rows, then apply them; raise :class:`ReviewFileError` listing every bad row.

        ``lenient`` (an import stored earlier, applied again after the pairs were regenerated):
        rows about pairs that no longer exist are skipped, and rows about pairs that changed
        since are applied over the change (the expert wins), each with a warning.
        """
        problems: list[str] = []
        planned: list[tuple[SheetRow, QARecord | None, dict[str, Any]]] = []
        seen_ids: dict[str, int] = {}
        seen_keys: dict[tuple[str, str], int] = {}
        existing_keys = {(p.image_id, p.question.strip()): pid for pid, p in self.pairs.items()}
        for row in rows:
            before = len(problems)

            def bad(message: str, row: SheetRow = row) -> None:
                problems.append(f"row {row.row}: {message}")

            pair_id = row.get("pair_id")
            pair = self.pairs.get(pair_id) if pair_id else None
            if pair_id:
                if pair_id in seen_ids:
                    bad(f"duplicated row: pair_id {pair_id} is also on row {seen_ids[pair_id]}")
                    continue
                seen_ids[pair_id] = row.row
                if pair is None:
                    if lenient:
                        if warn:
                            warn(f"{source}: row {row.row}: pair {pair_id} no longer exists; row not applied")
                        continue
                    bad(
                        f"unknown pair_id '{pair_id}' (not a pair of this run); leave pair_id empty to add a pair"
                    )
                    continue
            new = self._parse(row, pair, bad)
            if len(problems) != before:
                continue
            if pair is not None:
                current = pair_values(pair)
                untouched = row.get("version") and row_version(new) == row.get("version")
                approved_edit = new["status"] == "approved" and current["status"] == "edited"
                same = {**new, "status": "edited"} if approved_edit else new  # approving keeps "edited"
                if untouched or row_version(same) == row_version(current):  # nothing to change
                    seen_keys.setdefault((pair.image_id, pair.question.strip()), row.row)
                    continue
                exported = {row_version(current)}
                if current["status"] == "pending":  # the sheet of a run that auto-approves
                    exported.add(row_version({**current, "status": "approved"}))
                if row.get("version") and row.get("version") not in exported:
                    if not lenient:
                        bad(
                            f"pair {pair_id} changed after this sheet was exported (another import); export the "
                            f"review sheet again and redo this row"
                        )
                        continue
                    if warn:  # re-applying a stored import over regenerated pairs: the expert wins
                        warn(
                            f"{source}: row {row.row}: pair {pair_id} changed since this file was imported; "
                            f"the expert's row is applied over it"
                        )
                image_id = pair.image_id
                if row.get("image_path") and not self.images.same_path(image_id, row.get("image_path")):
                    other_image, why = self.images.find("", row.get("image_path"))
                    if other_image != image_id:
                        bad(
                            why
                            or f"pair {pair_id} is about image {self.images.display(image_id)[1]}; to ask "
                            f"about another image, add a new row (empty pair_id)"
                        )
                        continue
            else:
                found, why = self.images.find(row.get("image"), row.get("image_path"))
                if found is None:
                    bad(why or "unknown image")
                    continue
                image_id = found
            key = (image_id, new["question"].strip())
            if key in seen_keys:
                bad(f"duplicated row: same image and question as row {seen_keys[key]}")
                continue
            seen_keys[key] = row.row
            other = existing_keys.get(key)
            if other is not None and other != pair_id and other not in seen_ids:
                bad(f"duplicated row: pair {other} already asks this question about this image")
                continue
            planned.append((row, pair, {**new, "image_id": image_id}))
        if problems:
            raise ReviewFileError(source, problems)
        return [c for c in (self._commit(row, pair, new, source) for row, pair, new in planned) if c]

    def _parse(self, row: SheetRow, pair: QARecord | None, bad) -> dict[str, Any]:
        question, answer = row.get("question"), row.get("answer")
        if not question:
            bad("empty question" + ("; set status 'rejected' to drop a pair" if pair else ""))
        if not answer:
            bad("empty answer" + ("; set status 'rejected' to drop a pair" if pair else ""))
        status = row.get("status").lower()
        if status and status not in STATUSES:
            bad(f"unknown status '{row.get('status')}'; use one of {', '.join(STATUSES)}")
        negative = row.get("negative").lower()
        if negative not in _TRUE | _FALSE:
            bad(f"negative must be true or false, not '{row.get('negative')}'")
        if not status:
            status = pair.review if pair else "approved"
        category = row.get("category") if "category" in row.values else (pair.category if pair else None)
        flag, refused = negative_after(
            pair,
            pair.answer if pair and answer == sheet_form(pair.answer) else answer,
            negative in _TRUE if "negative" in row.values and negative in _TRUE | _FALSE else None,
        )
        if refused and answer:
            bad(refused)
        return {
            "question": question,
            "answer": answer,
            "category": category or None,
            "negative": flag,
            "status": status,
            "comment": (row.get("comment") if "comment" in row.values else (pair.comment if pair else None))
            or None,
        }

    def _commit(
        self, row: SheetRow, pair: QARecord | None, new: dict[str, Any], source: str
    ) -> Change | None:
        if pair is None:
            pair_id = QARecord.make_id(new["image_id"], new["question"])
            record = QARecord(
                id=pair_id,
                image_id=new["image_id"],
                question=new["question"],
                answer=new["answer"],
                category=new["category"],
                negative=new["negative"],
                provenance=Provenance(plugin="review", model="expert", source=Path(source).name),
                review=new["status"],
                comment=new["comment"],
            )
            self.pairs[pair_id] = record
            change = Change(
                pair_id,
                "add",
                {},
                {k: getattr(record, k) for k in ("image_id", *_RECORD_FIELDS)},
                row.row,
                source,
            )
            self.changes.append(change)
            return change
        for key in ("question", "answer", "comment"):  # as the sheet shows it: no edit
            if (new[key] or "") == sheet_form(getattr(pair, key)):
                new[key] = getattr(pair, key)
        status = new["status"]
        text_changed = new["question"] != pair.question or new["answer"] != pair.answer
        if (text_changed and status in ("pending", "approved")) or (
            status == "approved" and pair.review == "edited"
        ):
            status = "edited"
        after = {
            "question": new["question"],
            "answer": new["answer"],
            "category": new["category"],
            "negative": new["negative"],
            "review": status,
            "comment": new["comment"],
        }
        diff_before = {k: getattr(pair, k) for k, v in after.items() if getattr(pair, k) != v}
        if not diff_before:
            return None
        self.pairs[pair.id] = pair.model_copy(update=after)  # values checked by _parse
        change = Change(pair.id, "edit", diff_before, {k: after[k] for k in diff_before}, row.row, source)
        self.changes.append(change)
        return change

    def auto_approve(self) -> int:
        n = 0
        for pair_id, pair in self.pairs.items():
            if pair.review == "pending":
                self.pairs[pair_id] = pair.model_copy(update={"review": "approved"})
                self.changes.append(
                    Change(pair_id, "auto_approve", {"review": "pending"}, {"review": "approved"})
                )
                n += 1
        return n

    def replay(self, entry: dict[str, Any], warn: Any = None) -> None:
        """Apply a decision made in the review page (a line of the review log)."""
        from vlkd.plugins.review import decisions
        from vlkd.plugins.review.sheet import pair_version

        pair_id = entry["pair_id"]
        pair = self.pairs.get(pair_id)
        if entry["action"] == "add":
            if pair is not None:
                if warn:
                    warn(
                        f"review page: pair {pair_id} added by {entry['reviewer']} exists already; not added twice"
                    )
                return
        elif pair is None:
            if warn:
                warn(
                    f"review page: pair {pair_id} no longer exists; {entry['reviewer']}'s {entry['action']} not applied"
                )
            return
        elif pair_version(pair) != entry.get("base") and warn:  # the teacher's pairs were regenerated
            warn(
                f"review page: pair {pair_id} changed since {entry['reviewer']}'s {entry['action']}; applied over it"
            )
        self.pairs[pair_id] = decisions.apply(pair, entry)
        self.changes.append(
            Change(
                pair_id,
                entry["action"],
                entry["before"],
                entry["after"],
                source="review page",
                reviewer=entry.get("reviewer"),
                time=entry.get("time"),
            )
        )

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(p.review for p in self.pairs.values()))


_RECORD_FIELDS = ("question", "answer", "category", "negative", "review", "comment")
