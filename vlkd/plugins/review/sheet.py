"""The review spreadsheet: its columns, and reading/writing it as CSV (XLSX: :mod:`.sheet_xlsx`).

One row per pair, each image's pairs together, the images with doubted pairs first (risk
first), doubted pairs first within an image and the pairs the student already knows last
(:func:`vlkd.api.review_rank`). Experts edit ``question``, ``answer``, ``category``,
``negative``, ``status`` and ``comment``, and may add rows with an empty ``pair_id`` (new
pairs). ``image``, ``brand``, ``vehicle_model``, ``flags`` and ``image_path`` are there to
read, and so is ``student_answer`` (beside ``answer``, when the ``student_agreement`` check
asked the student first); the ``version`` column is a hash of the row as exported:
it tells an untouched row from an edited one, and a row edited from a sheet exported
before someone else's change.

Cells are escaped against formula injection and XML-forbidden characters (:mod:`.cells`).
Row numbers are those a spreadsheet application shows: the header is row 1.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlkd.api import DOUBTED, REASSURED, Flag, QARecord, VlkdError, review_rank
from vlkd.plugins.review.cells import cell_text, escape_cell, sheet_form, unescape_cell

COLUMNS: tuple[str, ...] = (
    "pair_id",
    "image",
    "brand",
    "vehicle_model",
    "category",
    "question",
    "answer",
    "negative",
    "status",
    "comment",
    "flags",
    "image_path",
    "version",
)
#: the XLSX file adds a thumbnail column (ignored on import)
XLSX_COLUMNS: tuple[str, ...] = ("pair_id", "preview", *COLUMNS[1:])
#: the student's own answer, read only: written after ``answer`` when a check asked the student
STUDENT_COLUMN = "student_answer"
#: every column an imported file may have (the others are left out)
KNOWN_COLUMNS: frozenset[str] = frozenset((*COLUMNS, STUDENT_COLUMN))
#: columns a file must have to be imported (the others may be left out)
REQUIRED_COLUMNS: tuple[str, ...] = ("pair_id", "question", "answer", "status")
#: what the expert may change on an existing row
EDITABLE: tuple[str, ...] = ("question", "answer", "category", "negative", "status", "comment")


@dataclass(frozen=True)
class SheetRow:
    """One data row of an imported file; ``values`` holds every known column as text."""

    row: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


def pair_values(pair: QARecord) -> dict[str, Any]:
    """The editable fields of a pair, named as the sheet names them."""
    return {
        "question": pair.question,
        "answer": pair.answer,
        "category": pair.category,
        "negative": pair.negative,
        "status": pair.review,
        "comment": pair.comment,
    }


def row_version(values: dict[str, object]) -> str:
    """Hash of the editable fields of a row, as a sheet shows them once read back."""
    text = "\x1f".join(sheet_form(values.get(c)) for c in EDITABLE)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def pair_version(pair: QARecord) -> str:
    """The version (etag) of a pair: changes whenever an editable field changes."""
    return row_version(pair_values(pair))


def flags_text(flags: Iterable[Flag]) -> str:
    return "; ".join(f"{f.check}: {f.flag}" + (f" ({f.reason})" if f.reason else "") for f in flags)


def with_student(columns: tuple[str, ...], rows: list[dict[str, object]]) -> tuple[str, ...]:
    """``columns`` with ``student_answer`` after ``answer`` when a row has the student's answer."""
    if not any(row.get(STUDENT_COLUMN) is not None for row in rows):
        return columns
    at = columns.index("answer") + 1
    return (*columns[:at], STUDENT_COLUMN, *columns[at:])


def risk_order(pairs: list[QARecord]) -> list[QARecord]:
    """Each image's pairs together, as the review page's queue: images with more doubted pairs
    first (then fewer pairs the student knows), and in each image the doubted pairs first and
    the pairs the student already knows last (:func:`vlkd.api.review_rank`)."""
    by_image: dict[str, list[QARecord]] = {}
    for pair in pairs:
        by_image.setdefault(pair.image_id, []).append(pair)
    ranks = {id(p): review_rank(p.flags) for p in pairs}

    def image_key(group: list[QARecord]) -> tuple[int, int]:
        return (-sum(ranks[id(p)] == DOUBTED for p in group), sum(ranks[id(p)] == REASSURED for p in group))

    groups = sorted(by_image.values(), key=image_key)
    return [p for g in groups for p in sorted(g, key=lambda p: ranks[id(p)])]


# -- writing -------------------------------------------------------------------------------


def write_csv(path: Path, rows: Iterable[dict[str, object]]) -> str:
    """UTF-8 with a byte-order mark, so that spreadsheet applications show Chinese text right.

    Returns the SHA-256 of the file written.
    """
    rows = list(rows)
    columns = with_student(COLUMNS, rows)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([escape_cell(row.get(c)) for c in columns])
    os.replace(tmp, path)
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading -------------------------------------------------------------------------------


def read_sheet(path: Path) -> list[SheetRow]:
    """The data rows of a CSV or XLSX review file (blank rows left out)."""
    if not path.is_file():
        raise VlkdError(f"{path}: no such file")
    suffix = path.suffix.lower()
    rows: list[tuple[int, list[Any]]]
    if suffix == ".csv":
        header, rows = _read_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        header, rows = _read_xlsx(path)
    else:
        raise VlkdError(f"{path}: unknown review file type '{suffix}'; use a .csv or .xlsx file")
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise VlkdError(
            f"{path}:row 1: missing column(s) {', '.join(missing)}; the header must keep the "
            f"exported columns: {', '.join(COLUMNS)}"
        )
    seen: set[str] = set()
    for name in names:
        if name in KNOWN_COLUMNS and name in seen:
            raise VlkdError(f"{path}:row 1: column '{name}' appears twice")
        seen.add(name)
    out = []
    for row_no, cells in rows:
        values = {
            name: unescape_cell(cell_text(cells[i]).strip()) if i < len(cells) else ""
            for i, name in enumerate(names)
            if name in KNOWN_COLUMNS
        }
        if any(values.values()):
            out.append(SheetRow(row_no, values))
    return out


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            return header, [(i, cells) for i, cells in enumerate(reader, 2)]
    except UnicodeDecodeError as exc:
        raise VlkdError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
            f"'CSV UTF-8' or import the .xlsx file instead"
        ) from None
    except csv.Error as exc:
        raise VlkdError(f"{path}: not a readable CSV file ({exc})") from None


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, list[object]]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise VlkdError(f"{path}: not a readable XLSX file ({type(exc).__name__}: {exc})") from None
    try:
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = [cell_text(c) for c in next(it, ())]
        return header, [(i, list(cells)) for i, cells in enumerate(it, 2)]
    finally:
        wb.close()
