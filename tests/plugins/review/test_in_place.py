"""An expert who edits review.xlsx where the CLI points them never loses the work."""

import json

import pytest
from openpyxl import load_workbook

from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.review.cells import xml_safe
from vlkd.plugins.review.imports import import_review_file
from vlkd.plugins.review.sheet import XLSX_COLUMNS, file_sha256

REVIEW = {"plugin": "spreadsheet", "require_approval": True}
STAGES = {"review": REVIEW, "split": {"plugin": "by_image"}}


def edit_xlsx(path, changes):
    """changes: {(sheet row, column name): value}; saved in place as a spreadsheet would."""
    wb = load_workbook(path)
    ws = wb["pairs"]
    for (row, name), value in changes.items():
        ws.cell(row=row, column=XLSX_COLUMNS.index(name) + 1).value = value
    wb.save(path)


def column(path, name):
    ws = load_workbook(path)["pairs"]
    return [ws.cell(row=r, column=XLSX_COLUMNS.index(name) + 1).value for r in range(2, ws.max_row + 1)]


def test_a_sheet_edited_in_place_is_applied_by_the_next_plain_run(fake_run):
    run = fake_run(STAGES, n_images=2, per_image=2)
    assert run.run()["status"] == "waiting"
    sheet = run.run_dir / "review" / "review.xlsx"
    edit_xlsx(sheet, {(2, "answer"): "Corrected.", (3, "status"): "rejected", (4, "status"): "approved"})
    manifest = run.run()  # no import step, no --from
    assert manifest["status"] == "done" and manifest["stages"]["split"]["status"] == "done"
    pairs = {p["id"]: p for p in read_jsonl(run.run_dir / "review" / "all_pairs.jsonl")}
    first, second, third = (run.pairs[i]["id"] for i in range(3))
    assert pairs[first]["answer"] == "Corrected." and pairs[first]["review"] == "edited"
    assert pairs[second]["review"] == "rejected" and pairs[third]["review"] == "approved"
    audit = list(read_jsonl(run.run_dir / "review-imports" / "audit.jsonl"))
    assert {a["pair_id"] for a in audit} == {first, second, third}
    assert next(a for a in audit if a["pair_id"] == first)["before"]["answer"] == "Answer 0 for page 0."
    # the sheet is rewritten with what was applied, and the next run has nothing to do
    assert column(sheet, "answer")[0] == "Corrected." and column(sheet, "status")[1] == "rejected"
    again = run.run()
    assert again["stages"]["review"]["started"] == manifest["stages"]["review"]["started"]


def test_an_invalid_in_place_edit_is_refused_naming_the_file_and_never_overwritten(fake_run):
    run = fake_run(STAGES, n_images=1, per_image=2)
    run.run()
    sheet = run.run_dir / "review" / "review.xlsx"
    edit_xlsx(sheet, {(2, "status"): "maybe", (3, "answer"): "Kept edit."})
    before = file_sha256(sheet)
    with pytest.raises(StageError) as err:
        run.run()
    message = str(err.value)
    assert f"{sheet} was edited in place and cannot be applied" in message
    assert "row 2: unknown status 'maybe'" in message
    assert file_sha256(sheet) == before  # the expert's file is untouched
    edit_xlsx(sheet, {(2, "status"): "approved"})  # fixed: applied, both rows
    assert run.run()["status"] == "done"
    answers = [p["answer"] for p in read_jsonl(run.run_dir / "review" / "pairs.jsonl")]
    assert answers == ["Answer 0 for page 0.", "Kept edit."]


def test_a_sheet_saved_broken_in_place_is_named_and_kept(fake_run):
    run = fake_run(STAGES, n_images=1, per_image=1)
    run.run()
    sheet = run.run_dir / "review" / "review.xlsx"
    sheet.write_bytes(b"not a zip file")  # a crashed save
    with pytest.raises(
        StageError, match=r"(?s)review\.xlsx was edited in place and cannot be applied.*not a readable XLSX"
    ):
        run.run()
    assert sheet.read_bytes() == b"not a zip file"
    sheet.unlink()  # deleting it exports a fresh one
    assert run.run()["status"] == "waiting" and sheet.is_file()


def test_reimporting_the_same_sheet_is_a_no_op(fake_run, tmp_path):
    run = fake_run({"review": {"plugin": "spreadsheet", "auto_approve": True}}, n_images=4, per_image=5)
    run.run()
    sheet = run.run_dir / "review" / "review.xlsx"
    copy = tmp_path / "back.xlsx"
    copy.write_bytes(sheet.read_bytes())
    edit_xlsx(copy, {(r, "answer"): f"Fixed {r}." for r in range(2, 7)})  # 5 rows touched
    first = import_review_file(run.run_dir, copy)
    assert first["changes"] == 5 and first["edited"] == 5  # not every auto-approved row
    again = import_review_file(run.run_dir, copy)
    assert again["changes"] == 0 and again["file"] is None
    index = [
        json.loads(x) for x in (run.run_dir / "review-imports" / "imports.jsonl").read_text().splitlines()
    ]
    assert len(index) == 1


def test_xml_forbidden_characters_are_replaced():
    assert xml_safe("a\x0bb\x0cc\x00d\ud800e\r\nf") == "a\nb\nc\ufffdd\ufffde\nf"
