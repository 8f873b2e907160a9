"""``review.xlsx``: the pairs sheet with a thumbnail of each image, and an instructions sheet.

- the first row of each image embeds a thumbnail, and the image's name links the full image
  by a path relative to the sheet (``../preprocess/images/...``: the link works wherever the
  run directory is copied, as long as the sheet stays in it);
- frozen header with filters on every column, a list of valid statuses in ``status``;
- every cell is text (escaped by :mod:`.cells`), so no teacher answer becomes a formula.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vlkd.plugins.review.cells import escape_cell
from vlkd.plugins.review.sheet import STUDENT_COLUMN, XLSX_COLUMNS, file_sha256, with_student

THUMB_PX = 120
WIDTHS = {
    "pair_id": 18,
    "preview": 18,
    "image": 24,
    "brand": 12,
    "vehicle_model": 14,
    "category": 16,
    "question": 44,
    "answer": 52,
    STUDENT_COLUMN: 36,
    "negative": 9,
    "status": 11,
    "comment": 28,
    "flags": 30,
    "image_path": 30,
    "version": 13,
}

INSTRUCTIONS = (
    ("How to review 如何审核", ""),
    ("question / answer", "Correct the text in place. 直接修改问题和答案。"),
    ("status", "pending, approved, rejected or edited. 待审 / 通过 / 拒绝 / 已修改。"),
    ("comment", "Why, for the next reviewer. 备注原因。"),
    (
        "student_answer 学生答案",
        "What the student model answered before review (grey, read only): a pair it already gets "
        "right needs less care. It is not the answer under review and is ignored on import. "
        "学生模型事先给出的答案（灰色，只读），仅供参考，导入时忽略。",
    ),
    (
        "new pair 新增",
        "Add a row with an empty pair_id and the image's name (or image_path). "
        "新增一行，pair_id 留空，填写 image 或 image_path。",
    ),
    (
        "do not change 请勿修改",
        "pair_id, version, image_path (they tie the row to the pair). 这些列用于对应记录。",
    ),
    (
        "leading apostrophe 开头的撇号",
        "Text that a spreadsheet would run as a formula (=, +, -, @) starts with ' here; "
        "vlkd removes it when the sheet comes back. 以 = + - @ 开头的文本前加了 '，导入时会去掉。",
    ),
    ("preview 预览", "Click an image name to open the full image. 点击图像名称打开原图。"),
    (
        "bring it back 提交",
        "Save this file where it is: the next `vlkd run` applies it. Or: vlkd review import RUN_DIR FILE. "
        "Or review in the browser: vlkd review serve RUN_DIR. "
        "直接保存此文件，下次 vlkd run 会自动导入；或使用 vlkd review import / vlkd review serve。",
    ),
)


def _thumbnail(file: Path) -> tuple[io.BytesIO, int, int] | None:
    from vlkd.images.decode import BadImage
    from vlkd.images.files import thumbnail

    try:
        data, width, height = thumbnail(file, THUMB_PX, format="PNG", draft=True)  # JPEG: decode small
    except BadImage:
        return None  # a missing or unreadable image: the row still has its name and path
    return io.BytesIO(data), width, height


def write_xlsx(path: Path, rows: Iterable[dict[str, Any]], *, thumbnails: bool = True) -> str:
    """Write the sheet (rows as from ``ReviewState.sheet_rows``); return the file's SHA-256."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image as XLImage
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = "pairs"
    rows = list(rows)
    columns = with_student(XLSX_COLUMNS, rows)
    ws.append(list(columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    col = {name: i for i, name in enumerate(columns, 1)}
    wrap = Alignment(wrap_text=True, vertical="top")
    student = Font(italic=True, color="6B7280")  # the student's answer: read only, not the teacher's
    student_fill = PatternFill("solid", fgColor="EEF2F7")
    n = 1
    last_image = None
    for row in rows:
        n += 1
        for name, c in col.items():
            if name == "preview":
                continue
            cell = ws.cell(row=n, column=c)
            cell.value = escape_cell(row.get(name))
            cell.data_type = "s"  # always text: an answer starting with "=" must not become a formula
            if name in ("question", "answer", STUDENT_COLUMN, "comment", "flags"):
                cell.alignment = wrap
            if name == STUDENT_COLUMN:
                cell.font, cell.fill = student, student_fill
        file = row.get("_file")
        if row.get("_image_id") != last_image and file:
            last_image = row.get("_image_id")
            link = ws.cell(row=n, column=col["image"])
            link.hyperlink = os.path.relpath(file, path.parent).replace(os.sep, "/")
            link.style = "Hyperlink"
            thumb = _thumbnail(Path(file)) if thumbnails else None
            if thumb is not None:
                data, _, height = thumb
                img = XLImage(data)
                ws.add_image(img, f"{get_column_letter(col['preview'])}{n}")
                ws.row_dimensions[n].height = max(15, height * 0.75 + 4)  # points
    ws.freeze_panes = "A2"
    last = get_column_letter(len(columns))
    ws.auto_filter.ref = f"A1:{last}{max(n, 2)}"
    for name, c in col.items():
        ws.column_dimensions[get_column_letter(c)].width = WIDTHS.get(name, 12)
    status = DataValidation(type="list", formula1='"pending,approved,rejected,edited"', allow_blank=True)
    ws.add_data_validation(status)
    status_col = get_column_letter(col["status"])
    status.add(f"{status_col}2:{status_col}{max(n, 2) + 1000}")

    info = wb.create_sheet("instructions 说明")
    for line in INSTRUCTIONS:
        info.append(list(line))
    info["A1"].font = Font(bold=True, size=13)
    info.column_dimensions["A"].width = 30
    info.column_dimensions["B"].width = 110
    for cells in info.iter_rows(min_row=2):
        cells[0].font = Font(bold=True)
        cells[1].alignment = Alignment(wrap_text=True, vertical="top")
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, path)
    return file_sha256(path)
