"""The student answers first: review shows its answer beside the teacher's and takes risk first.

The pairs carry what the ``student_agreement`` check writes (its own ``check`` through the verify
driver's ``check_image``, with the student's answers given instead of asked of a model):

- page 0: the student knows both pairs (``student_knows``, no doubt): reviewed last;
- page 1: it knows question 0 and gets question 1 wrong, with a hostile answer (HTML);
- page 2: it gets both wrong.

Before, every pair carried a flag, so every image looked equally risky (file order) and a known
pair could come before a wrong one. Now the queue is page 2, page 1, page 0, and in each image the
pairs the student gets wrong come first; the page and both sheets show the student's answer,
as text, set apart from the teacher's.

Set VLKD_SCREENSHOT_DIR to keep the page's screenshots (1440 and 390 px wide).
"""

from __future__ import annotations

import csv

import pytest

from vlkd.testing.fake_run import make_images, make_pairs

from .conftest import XSS, waiting_review
from .test_browser import browser  # noqa: F401 - the fixture

#: (page, question) -> the student's answer; None: the teacher's answer (the student knows it)
STUDENT = {
    (0, 0): None,
    (0, 1): None,
    (1, 0): None,
    (1, 1): XSS,
    (2, 0): "Page nine, I think",
    (2, 1): "不存在",
}


def checked_pairs(images: list[dict], pairs: list[dict]) -> list[dict]:
    """The pairs as the verify stage writes them after the student_agreement check."""
    from vlkd.api import ImageRecord, QARecord
    from vlkd.metrics.scores import anls
    from vlkd.plugins.verify.student_agreement import StudentAgreement
    from vlkd.verify.driver import check_image

    check = StudentAgreement(StudentAgreement.Options.model_validate({"plugin": "student_agreement"}))
    out = []
    for i, image in enumerate(images):
        records = [QARecord.model_validate(p) for p in pairs if p["image_id"] == image["id"]]
        for j, pair in enumerate(records):
            answer = STUDENT[(i, j)] or pair.answer
            check.answers[pair.id] = {"answer": answer, "agreement": round(anls(answer, pair.answer), 4)}
        checked, _ = check_image([check], ImageRecord.model_validate(image), records)
        out += checked
    return out


@pytest.fixture
def student_run(tmp_path):
    images = make_images(tmp_path / "images", 3, size=(640, 420))
    return waiting_review(tmp_path, images, checked_pairs(images, make_pairs(images, 2)))


def questions(pairs) -> list[str]:
    return [p["question"] if isinstance(p, dict) else p.question for p in pairs]


def test_the_queue_takes_what_the_student_gets_wrong_first(student_run):
    from vlkd.plugins.review.web.store import ReviewStore

    store = ReviewStore(student_run.run_dir)
    assert store.queue({}) == [2, 1, 0]  # two wrong, one wrong, none wrong (was 0, 1, 2)
    assert store.queue({}, order="file") == [0, 1, 2]
    page1 = store.image_json(1)
    assert questions(page1["pairs"]) == ["Question 1 about page 1?", "Question 0 about page 1?"]
    wrong, known = page1["pairs"]
    assert wrong["student"] == {"answer": XSS, "agreement": 0.0}
    assert [(f["flag"], f["doubt"]) for f in wrong["flags"]] == [("student_wrong", True)]
    assert known["student"] == {"answer": "Answer 0 for page 1.", "agreement": 1.0}
    assert [(f["flag"], f["doubt"]) for f in known["flags"]] == [("student_knows", False)]


def test_a_pair_without_a_student_answer_has_none_and_a_doubt_still_goes_first(fake_run):
    from vlkd.plugins.review.web.store import ReviewStore

    run = fake_run({"review": {"plugin": "spreadsheet", "require_approval": True}}, n_images=2)
    from vlkd.api import write_jsonl_atomic

    run.pairs[3]["flags"] = [{"check": "ocr_grounding", "flag": "ungrounded", "reason": "not on the page"}]
    write_jsonl_atomic(run.run_dir / "teach" / "pairs.jsonl", run.pairs)
    assert run.run()["status"] == "waiting"
    store = ReviewStore(run.run_dir)
    assert store.queue({}) == [1, 0]
    assert [p["student"] for p in store.image_json(0)["pairs"]] == [None, None]


def test_the_sheets_show_the_student_answer_beside_the_teacher_and_ignore_it_on_import(student_run):
    from openpyxl import load_workbook

    from vlkd.core.jsonl import read_jsonl
    from vlkd.plugins.review.imports import import_review_file

    review = student_run.run_dir / "review"
    with (review / "review.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    assert header[header.index("answer") + 1] == "student_answer"
    assert [r["question"] for r in rows] == [
        "Question 0 about page 2?",
        "Question 1 about page 2?",
        "Question 1 about page 1?",
        "Question 0 about page 1?",
        "Question 0 about page 0?",
        "Question 1 about page 0?",
    ]
    by_question = {r["question"]: r for r in rows}
    assert by_question["Question 1 about page 1?"]["student_answer"] == XSS  # text, as written
    assert by_question["Question 0 about page 2?"]["student_answer"] == "Page nine, I think"

    wb = load_workbook(review / "review.xlsx")
    ws = wb["pairs"]
    names = [c.value for c in ws[1]]
    column = names.index("student_answer") + 1
    assert names[column - 2] == "answer"
    cell = ws.cell(row=4, column=column)  # the third pair: page 1's wrong one
    assert cell.value == XSS and cell.data_type == "s"
    assert cell.font.i and ws.cell(row=4, column=column - 1).font.i is not True  # set apart

    # an expert who types into the student's column changes nothing; the answer column still counts
    by_question["Question 1 about page 1?"]["student_answer"] = "edited by mistake"
    by_question["Question 0 about page 2?"]["answer"] = "P-7"
    edited = student_run.tmp_path / "edited.csv"
    with edited.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    summary = import_review_file(student_run.run_dir, edited)
    assert (summary["changes"], summary["edited"]) == (1, 1)
    student_run.run()
    after = {p["question"]: p for p in read_jsonl(review / "all_pairs.jsonl")}
    assert (after["Question 0 about page 2?"]["answer"], after["Question 0 about page 2?"]["review"]) == (
        "P-7",
        "edited",
    )
    untouched = after["Question 1 about page 1?"]
    assert (untouched["answer"], untouched["review"]) == ("Answer 1 for page 1.", "pending")
    assert untouched["checks"]["student_agreement"]["student_answer"] == XSS


def test_a_sheet_without_student_answers_has_no_student_column(fake_run):
    run = fake_run({"review": {"plugin": "spreadsheet", "require_approval": True}})
    assert run.run()["status"] == "waiting"
    with (run.run_dir / "review" / "review.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert "student_answer" not in next(csv.reader(fh))


# -- in the browser --------------------------------------------------------------------------


def test_the_page_shows_the_student_answer_as_text_set_apart_from_the_teacher(student_run, serve, browser):  # noqa: F811
    from .test_browser import card, expect, open_page, shot

    server = serve(student_run.run_dir)
    page = open_page(browser, server)
    expect(page.locator("#position")).to_contain_text("1 of 3")
    assert page.locator("#image-name").inner_text() == "page_002.png"  # the riskiest first
    page.keyboard.press("j")
    expect(page.locator("#image-name")).to_have_text("page_001.png")
    wrong, known = card(page, 0), card(page, 1)
    assert wrong.locator(".question").input_value() == "Question 1 about page 1?"
    # the student's hostile answer is text beside the teacher's, no element made from it
    expect(wrong.locator(".student-answer")).to_have_text(XSS)
    assert page.locator(".pairs img").count() == 0
    assert wrong.locator(".answer").input_value() == "Answer 1 for page 1."
    expect(wrong.locator(".field.student")).to_have_class("field student wrong")
    expect(wrong.locator(".verdict")).to_have_text("≠ differs from the teacher · ANLS 0.00")
    expect(known.locator(".verdict")).to_have_text("✓ agrees with the teacher · ANLS 1.00")
    expect(known.locator(".badge.flag.calm")).to_have_text("✓ student_knows")
    # set apart: not an editable box, another border and background than the teacher's answer
    style = "e => { const s = getComputedStyle(e); return [s.borderStyle, s.backgroundColor, e.tagName] }"
    student = wrong.locator(".student-box").evaluate(style)
    teacher = wrong.locator(".answer").evaluate(style)
    assert student[0] == "dashed" and student[1] != teacher[1] and student[2] == "DIV"
    assert teacher[2] == "TEXTAREA"
    shot(page, "student-answer", 1440)
    shot(page, "student-answer", 390)
    # the expert's decision is about the teacher's answer; the student's stays as it was
    page.keyboard.press("a")
    expect(card(page, 0).locator(".badge.approved")).to_be_visible()
    expect(card(page, 0).locator(".student-answer")).to_have_text(XSS)
    page.wait_for_timeout(300)
    assert page.dialogs == [] and not page.errors
