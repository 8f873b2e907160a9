"""What experts get in review.csv/review.xlsx, and that what comes back is read exactly."""

import csv

import pytest
from openpyxl import load_workbook

from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.review.cells import escape_cell, unescape_cell
from vlkd.plugins.review.imports import import_review_file
from vlkd.plugins.review.sheet import XLSX_COLUMNS, read_sheet
from vlkd.testing.fake_run import FakeRun, make_images, make_pairs

HOSTILE = [
    "=1+1",
    '=HYPERLINK("http://x","click")',
    "+SUM(A1:A9)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "- item",
    "'=already quoted",
]
HARMLESS = ["-40°C", "+86 138 0000 0000", "-1.5 mm", "normal text", "'tis", "12"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_gets_an_apostrophe_and_reads_back_exactly(text):
    written = escape_cell(text)
    assert written.startswith("'") and unescape_cell(written) == text.replace("\r", "\n")


@pytest.mark.parametrize("text", HARMLESS)
def test_numbers_and_plain_text_stay_readable(text):
    assert escape_cell(text) == text and unescape_cell(text) == text


def run_with(tmp_path, answers, stages=None, metadata=None):
    images = make_images(tmp_path / "images", 2)
    for image in images:
        image["metadata"] = metadata or {}
    pairs = make_pairs(images, (len(answers) + 1) // 2)
    for pair, answer in zip(pairs, answers, strict=False):
        pair["answer"] = answer
    return FakeRun(tmp_path, stages or {"review": {"plugin": "spreadsheet"}}, images, pairs)


def test_teacher_formulas_are_text_in_both_sheets_and_an_untouched_sheet_changes_nothing(tmp_path):
    run = run_with(tmp_path, [*HOSTILE, "-40°C"])
    run.run()
    review = run.run_dir / "review"
    with (review / "review.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [r["answer"] for r in rows]
    assert all(c.startswith("'") for c in cells[: len(HOSTILE)]) and "-40°C" in cells
    ws = load_workbook(review / "review.xlsx").active
    col = XLSX_COLUMNS.index("answer") + 1
    xl = [ws.cell(row=r, column=col) for r in range(2, ws.max_row + 1)]
    assert all(c.data_type == "s" for c in xl)  # never a formula cell
    assert all(c.value.startswith("'") for c in xl if c.value != "-40°C")
    for sheet in (review / "review.csv", review / "review.xlsx"):
        back = [r.get("answer") for r in read_sheet(sheet)][: len(HOSTILE)]
        assert back == [t.replace("\r", "\n") for t in HOSTILE]  # XML reads a CR as a line break
        summary = import_review_file(run.run_dir, sheet)  # the sheet as exported: a no-op
        assert summary["changes"] == 0, sheet


def test_control_characters_never_crash_the_export_and_count_as_no_edit(tmp_path):
    word = "第一行\x0b第二行"  # a vertical tab: Word's line break
    run = run_with(tmp_path, [word, "nul\x00 and bell\x07", "form\x0cfeed\x1b"])
    manifest = run.run()
    assert manifest["stages"]["review"]["status"] == "done"
    ws = load_workbook(run.run_dir / "review" / "review.xlsx").active
    col = XLSX_COLUMNS.index("answer") + 1
    assert ws.cell(row=2, column=col).value == "第一行\n第二行"
    assert ws.cell(row=3, column=col).value == "nul\ufffd and bell\ufffd"
    assert import_review_file(run.run_dir, run.run_dir / "review" / "review.xlsx")["changes"] == 0
    run.run()
    kept = [p["answer"] for p in read_jsonl(run.run_dir / "review" / "all_pairs.jsonl")]
    assert kept[0] == word  # the teacher's text is kept as it was


def test_xlsx_has_thumbnails_links_brand_model_instructions_and_filters(tmp_path):
    run = run_with(tmp_path, ["a", "b", "c", "d"], metadata={"brand": "比亚迪", "vehicle_model": "Qin Plus"})
    run.run()
    wb = load_workbook(run.run_dir / "review" / "review.xlsx")
    ws = wb["pairs"]
    header = [c.value for c in ws[1]]
    assert len(ws._images) == 2  # one thumbnail per image, on its first row
    anchors = sorted(img.anchor._from.row + 1 for img in ws._images)
    assert anchors == [2, 4] and header[ws._images[0].anchor._from.col] == "preview"
    link = ws.cell(row=2, column=header.index("image") + 1).hyperlink
    assert link.target == "../../images/page_000.png"  # relative to the sheet
    assert (run.run_dir / "review" / link.target).resolve().is_file()
    assert ws.cell(row=2, column=header.index("brand") + 1).value == "比亚迪"
    assert ws.cell(row=2, column=header.index("vehicle_model") + 1).value == "Qin Plus"
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    assert "instructions 说明" in wb.sheetnames
    text = " ".join(str(c.value) for row in wb["instructions 说明"].iter_rows() for c in row)
    assert "vlkd review serve" in text and "'" in text


def test_flags_column_and_risk_first_order(tmp_path):
    images = make_images(tmp_path / "images", 3)
    pairs = make_pairs(images, 2)
    pairs[5]["flags"] = [{"check": "ocr_grounding", "flag": "ungrounded", "reason": "not on the page"}]
    run = FakeRun(tmp_path, {"review": {"plugin": "spreadsheet"}}, images, pairs)
    run.run()
    rows = read_sheet(run.run_dir / "review" / "review.csv")
    assert rows[0].get("pair_id") == pairs[5]["id"]  # the flagged pair first, then its image's other
    assert rows[1].get("pair_id") == pairs[4]["id"]
    assert rows[0].get("flags") == "ocr_grounding: ungrounded (not on the page)"
    assert [r.get("pair_id") for r in rows[2:]] == [p["id"] for p in pairs[:4]]
