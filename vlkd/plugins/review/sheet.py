"""The review spreadsheet: its columns, and reading/writing it as CSV or XLSX.

One row per pair. Experts edit ``question``, ``answer``, ``category``, ``negative``,
``status`` and ``comment``, and may add rows with an empty ``pair_id`` (new pairs). The
``version`` column is a hash of the row as exported; it tells an untouched row from an
edited one, and a row edited from a sheet exported before someone else's import.

Row numbers are those a spreadsheet application shows: the header is row 1.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vlkd.core.errors import VlkdError

COLUMNS: tuple[str, ...] = (
    "pair_id",
    "image",
    "image_path",
    "question",
    "answer",
    "category",
    "negative",
    "status",
    "comment",
    "version",
)
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


def row_version(values: dict[str, object]) -> str:
    """Hash of the editable fields of a row, as they would be written into the sheet."""
    text = "\x1f".join(cell_text(values.get(c)).strip() for c in EDITABLE)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- writing -------------------------------------------------------------------------------


def write_csv(path: Path, rows: Iterable[dict[str, object]]) -> None:
    """UTF-8 with a byte-order mark, so that spreadsheet applications show Chinese text right."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([cell_text(row.get(c)) for c in COLUMNS])
    os.replace(tmp, path)


def write_xlsx(path: Path, rows: Iterable[dict[str, object]]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = "pairs"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    n = 1
    for row in rows:
        n += 1
        for col, name in enumerate(COLUMNS, 1):
            cell = ws.cell(row=n, column=col)
            # always text: an answer starting with "=" must not become a formula
            cell.value = cell_text(row.get(name))
            cell.data_type = "s"
    ws.freeze_panes = "A2"
    widths = {"pair_id": 18, "image": 24, "image_path": 30, "question": 50, "answer": 60, "comment": 30}
    for col, name in enumerate(COLUMNS, 1):
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = widths.get(name, 12)
    status = DataValidation(type="list", formula1='"pending,approved,rejected,edited"', allow_blank=True)
    ws.add_data_validation(status)
    status_col = ws.cell(row=1, column=COLUMNS.index("status") + 1).column_letter
    status.add(f"{status_col}2:{status_col}{max(n, 2) + 1000}")
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, path)


# -- reading -------------------------------------------------------------------------------


def read_sheet(path: Path) -> list[SheetRow]:
    """The data rows of a CSV or XLSX review file (blank rows left out)."""
    if not path.is_file():
        raise VlkdError(f"{path}: no such file")
    suffix = path.suffix.lower()
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
        if name in COLUMNS and name in seen:
            raise VlkdError(f"{path}:row 1: column '{name}' appears twice")
        seen.add(name)
    out = []
    for row_no, cells in rows:
        values = {
            name: cell_text(cells[i]).strip() if i < len(cells) else ""
            for i, name in enumerate(names)
            if name in COLUMNS
        }
        if any(values.values()):
            out.append(SheetRow(row_no, values))
    return out


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
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
