import csv
import json

import pytest
from openpyxl import load_workbook

from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.review.edits import ReviewFileError
from vlkd.plugins.review.imports import import_review_file
from vlkd.plugins.review.sheet import COLUMNS, XLSX_COLUMNS

REVIEW = {"plugin": "spreadsheet"}


def read_csv(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return path


def review_dir(run):
    return run.run_dir / "review"


def test_first_run_exports_csv_and_xlsx_before_any_expert(fake_run):
    run = fake_run({"review": REVIEW}, n_images=2, per_image=2)
    manifest = run.run()
    assert manifest["stages"]["review"]["status"] == "done"
    rows = read_csv(review_dir(run) / "review.csv")
    assert len(rows) == 4 and list(rows[0]) == list(COLUMNS)
    assert rows[0]["image"] == "page_000.png" and rows[0]["status"] == "pending"
    assert rows[0]["pair_id"] == run.pairs[0]["id"] and rows[0]["question"] == run.pairs[0]["question"]
    ws = load_workbook(review_dir(run) / "review.xlsx").active
    assert [c.value for c in ws[1]] == list(XLSX_COLUMNS)
    assert ws.max_row == 5
    assert len(list(read_jsonl(review_dir(run) / "pairs.jsonl"))) == 4  # pending pairs go on by default


def test_require_approval_without_approvals_waits_for_the_experts(fake_run):
    run = fake_run(
        {"review": {**REVIEW, "require_approval": True}, "split": {"plugin": "by_image"}}, n_images=2
    )
    manifest = run.run()  # an outcome, not an error
    assert manifest["status"] == "waiting"
    assert manifest["stages"]["review"]["status"] == "waiting"
    assert manifest["stages"]["split"]["status"] == "pending"  # later stages wait
    assert "4 pair(s) await expert review" in manifest["stages"]["review"]["next"]
    assert f"vlkd review serve {run.run_dir}" in manifest["stages"]["review"]["next"]
    assert (review_dir(run) / "review.xlsx").is_file() and (review_dir(run) / "review.csv").is_file()
    assert run.run()["stages"]["review"]["status"] == "waiting"  # still waiting, asked again


def test_every_pair_rejected_is_an_error_not_a_wait(fake_run, tmp_path):
    run = fake_run({"review": {**REVIEW, "require_approval": True}}, n_images=1)
    run.run()
    rows = [dict(r, status="rejected") for r in read_csv(review_dir(run) / "review.csv")]
    import_review_file(run.run_dir, write_csv(tmp_path / "back.csv", rows))
    with pytest.raises(StageError, match="experts rejected every pair"):
        run.run()


def test_auto_approve_for_the_demo(fake_run):
    run = fake_run({"review": {**REVIEW, "require_approval": True, "auto_approve": True}}, n_images=2)
    manifest = run.run()
    assert manifest["stages"]["review"]["facts"]["status"] == {"approved": 4}
    assert {p["review"] for p in read_jsonl(review_dir(run) / "pairs.jsonl")} == {"approved"}


def test_edits_import_on_top_of_auto_approval(fake_run, tmp_path):
    run = fake_run({"review": {**REVIEW, "auto_approve": True}}, n_images=1, per_image=2)
    run.run()
    rows = read_csv(review_dir(run) / "review.csv")
    assert [r["status"] for r in rows] == ["approved", "approved"]
    rows[0].update(answer="Fixed.")
    import_review_file(run.run_dir, write_csv(tmp_path / "back.csv", rows))
    run.run()
    pairs = list(read_jsonl(review_dir(run) / "pairs.jsonl"))
    assert [(p["answer"], p["review"]) for p in pairs] == [
        ("Fixed.", "edited"),
        ("Answer 1 for page 0.", "approved"),
    ]


def test_import_applies_edits_and_later_stages_rerun(fake_run, tmp_path):
    run = fake_run(
        {
            "review": {**REVIEW, "require_approval": True, "auto_approve": False},
            "split": {"plugin": "by_image"},
            "format": {"plugin": "llamafactory", "grouping": "per_pair"},
        },
        n_images=3,
        per_image=2,
    )
    assert run.run()["status"] == "waiting"  # nothing approved yet
    rows = read_csv(review_dir(run) / "review.csv")
    rows[0].update(answer="The corrected answer.")  # edited (approved implicitly)
    rows[1].update(question="A better question?", status="approved")
    rows[2].update(status="rejected", comment="wrong part")
    rows[3].update(status="approved")
    # rows 4 and 5 stay pending; the expert adds a pair about the second image
    added = {"image": "page_001.png", "question": "What colour is it?", "answer": "Green.", "category": "x"}
    summary = import_review_file(run.run_dir, write_csv(tmp_path / "back.csv", [*rows, added]))
    assert summary["changes"] == 5 and summary["added"] == 1 and summary["edited"] == 2
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert manifest["stages"]["review"]["status"] == "waiting"  # it re-runs anyway
    # the import needs only the review's input; the re-run applies it
    manifest = run.run()
    assert all(manifest["stages"][s]["status"] == "done" for s in ("review", "split", "format"))
    everything = {p["id"]: p for p in read_jsonl(review_dir(run) / "all_pairs.jsonl")}
    kept = {p["id"]: p for p in read_jsonl(review_dir(run) / "pairs.jsonl")}
    first, second, third = (run.pairs[i]["id"] for i in range(3))
    assert everything[first]["answer"] == "The corrected answer." and everything[first]["review"] == "edited"
    assert everything[second]["question"] == "A better question?" and everything[second]["review"] == "edited"
    assert everything[third]["review"] == "rejected" and everything[third]["comment"] == "wrong part"
    assert third not in kept and len(kept) == 4  # 2 edited, 1 approved, 1 added; pending ones left out
    new = [p for p in kept.values() if p["question"] == "What colour is it?"]
    assert new and new[0]["image_id"] == run.images[1]["id"] and new[0]["review"] == "approved"
    audit = list(read_jsonl(review_dir(run) / "audit.jsonl"))
    edit = next(a for a in audit if a["pair_id"] == first)
    assert edit["before"] == {"answer": "Answer 0 for page 0.", "review": "pending"}
    assert edit["after"] == {"answer": "The corrected answer.", "review": "edited"} and edit["row"] == 2
    # the dataset holds exactly the kept pairs
    samples = [
        s
        for f in (run.run_dir / "format" / "dataset").glob("*.json")
        if f.name in ("train.json", "val.json", "test.json")
        for s in json.loads(f.read_text())
    ]
    answers = {s["messages"][1]["content"] for s in samples}
    assert (
        "The corrected answer." in answers and "Green." in answers and "Answer 0 for page 1." not in answers
    )


def test_invalid_rows_are_all_reported_and_nothing_is_applied(fake_run, tmp_path):
    run = fake_run({"review": REVIEW}, n_images=2, per_image=2)
    run.run()
    rows = read_csv(review_dir(run) / "review.csv")
    rows[0].update(answer="changed")  # valid, but must not be applied
    rows[1].update(question="")  # row 3
    rows[2].update(status="ok")  # row 4
    bad = [
        *rows,
        dict(rows[3]),  # row 6: duplicate of row 5
        {"image": "nowhere.png", "question": "Q?", "answer": "A"},  # row 7: unknown image
        {"image_path": "../../etc/passwd", "question": "Q?", "answer": "A"},  # row 8: escape
        {"pair_id": "0123456789abcdef", "question": "Q?", "answer": "A"},  # row 9: unknown pair
        {"image": "page_001.png", "question": rows[3]["question"], "answer": "A"},  # row 10: dup
        {"image": "page_000.png", "question": "Q?", "answer": "A", "negative": "maybe"},  # row 11
        {"image_path": "/etc/passwd", "question": "Q2?", "answer": "A"},  # row 12: not the run's
    ]
    with pytest.raises(ReviewFileError) as err:
        import_review_file(run.run_dir, write_csv(tmp_path / "bad.csv", bad))
    message = str(err.value)
    assert "bad.csv: 9 invalid row(s); nothing was applied" in message
    for expected in (
        "row 3: empty question",
        "row 4: unknown status 'ok'; use one of pending, approved, rejected, edited",
        "row 6: duplicated row: pair_id",
        "row 7: unknown image: 'nowhere.png' is not an image of this run",
        "row 8: image_path '../../etc/passwd' contains '..'",
        "row 9: unknown pair_id '0123456789abcdef'",
        "row 10: duplicated row: same image and question as row 5",
        "row 11: negative must be true or false, not 'maybe'",
        "row 12: unknown image: image_path '/etc/passwd' is not an image of this run",
    ):
        assert expected in message
    assert not (run.run_dir / "review-imports" / "imports.jsonl").exists()
    assert json.loads((run.run_dir / "manifest.json").read_text())["stages"]["review"]["status"] == "done"
    assert run.run()["stages"]["review"]["status"] == "done"
    assert next(p["answer"] for p in read_jsonl(review_dir(run) / "pairs.jsonl")) == "Answer 0 for page 0."


def test_xlsx_round_trip_keeps_formula_like_text(fake_run, tmp_path):
    run = fake_run({"review": REVIEW}, n_images=1, per_image=2)
    run.run()
    wb = load_workbook(review_dir(run) / "review.xlsx")
    ws = wb.active
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("answer") + 1)
    cell.value = "=SUM(A1) is not a formula here"
    cell.data_type = "s"  # as the exported cell is: text
    ws.cell(row=3, column=header.index("status") + 1).value = "Rejected"
    ws.cell(row=3, column=header.index("negative") + 1).value = True
    wb.save(tmp_path / "back.xlsx")
    import_review_file(run.run_dir, tmp_path / "back.xlsx")
    # a finished review is marked stale: the next run resumes it, and re-runs what follows
    assert json.loads((run.run_dir / "manifest.json").read_text())["stages"]["review"]["status"] == "stale"
    run.run()
    pairs = list(read_jsonl(review_dir(run) / "all_pairs.jsonl"))
    assert pairs[0]["answer"] == "=SUM(A1) is not a formula here" and pairs[0]["review"] == "edited"
    assert pairs[1]["review"] == "rejected" and pairs[1]["negative"] is True
    ws2 = load_workbook(review_dir(run) / "review.xlsx").active
    assert ws2.cell(row=2, column=header.index("answer") + 1).data_type == "s"


def test_an_old_sheet_neither_reverts_nor_overwrites_a_later_import(fake_run, tmp_path):
    run = fake_run({"review": REVIEW}, n_images=1, per_image=2)
    run.run()
    old = read_csv(review_dir(run) / "review.csv")
    first = [dict(r) for r in old]
    first[0].update(answer="First expert.")
    import_review_file(run.run_dir, write_csv(tmp_path / "one.csv", first))
    second = [dict(r) for r in old]  # exported before the first import
    second[1].update(status="approved")  # an untouched row 2 must not revert row 2's edit
    import_review_file(run.run_dir, write_csv(tmp_path / "two.csv", second))
    run.run()
    pairs = list(read_jsonl(review_dir(run) / "all_pairs.jsonl"))
    assert pairs[0]["answer"] == "First expert." and pairs[1]["review"] == "approved"
    third = [dict(r) for r in old]
    third[0].update(answer="Second expert.")
    with pytest.raises(ReviewFileError, match=r"row 2: pair .* changed after this sheet was exported"):
        import_review_file(run.run_dir, write_csv(tmp_path / "three.csv", third))


def test_edits_file_in_the_recipe_is_found_on_rerun(fake_run, tmp_path):
    edits = tmp_path / "expert.csv"
    run = fake_run(
        {"review": {**REVIEW, "edits": str(edits)}, "split": {"plugin": "by_image"}}, n_images=1, per_image=2
    )
    manifest = run.run()
    assert manifest["stages"]["review"]["status"] == "done"  # no edits yet: export only
    rows = read_csv(review_dir(run) / "review.csv")
    rows[0].update(status="rejected")
    write_csv(edits, rows)
    run.set_stages({"review": {**REVIEW, "edits": str(edits)}, "split": {"plugin": "by_image"}})
    manifest = run.run()
    assert (
        manifest["stages"]["split"]["facts"]["pairs"]["train"]
        + manifest["stages"]["split"]["facts"]["pairs"]["val"]
        + manifest["stages"]["split"]["facts"]["pairs"]["test"]
        == 1
    )
    # unchanged file, unchanged recipe: nothing re-runs
    assert run.run()["stages"]["review"]["started"] == manifest["stages"]["review"]["started"]
    write_csv(edits, [{**rows[0], "status": "approved"}, rows[1]])
    assert (
        run.run()["stages"]["split"]["facts"]["pairs"]["train"]
        + run.run()["stages"]["split"]["facts"]["pairs"]["val"]
        + run.run()["stages"]["split"]["facts"]["pairs"]["test"]
        == 2
    )


def test_unreadable_files_are_named(fake_run, tmp_path):
    run = fake_run({"review": REVIEW}, n_images=1)
    run.run()
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(Exception, match=r"x\.txt: unknown review file type '\.txt'"):
        import_review_file(run.run_dir, tmp_path / "x.txt")
    (tmp_path / "h.csv").write_text("question,answer\nq,a\n")
    with pytest.raises(Exception, match=r"h\.csv:row 1: missing column\(s\) pair_id, status"):
        import_review_file(run.run_dir, tmp_path / "h.csv")
    (tmp_path / "l.csv").write_bytes("pair_id,question,answer,status\n,\xe9t\xe9,a,\n".encode("latin-1"))
    with pytest.raises(Exception, match=r"l\.csv: not UTF-8 text"):
        import_review_file(run.run_dir, tmp_path / "l.csv")
    with pytest.raises(Exception, match="not a vlkd run directory"):
        import_review_file(tmp_path / "nothing", tmp_path / "h.csv")


def test_stored_imports_survive_regenerated_pairs(fake_run, tmp_path):
    run = fake_run({"review": REVIEW, "split": {"plugin": "by_image"}}, n_images=1, per_image=2)
    run.run()
    rows = read_csv(review_dir(run) / "review.csv")
    rows[0].update(answer="Expert answer.")
    import_review_file(run.run_dir, write_csv(tmp_path / "back.csv", rows))
    # the teacher runs again: pair 0 gets a new answer, pair 1 disappears
    from vlkd.core.jsonl import write_jsonl_atomic

    pairs = [dict(run.pairs[0], answer="New teacher answer.")]
    write_jsonl_atomic(run.run_dir / "teach" / "pairs.jsonl", pairs)
    manifest = run.run(from_stage="review")
    assert manifest["stages"]["split"]["status"] == "done"
    assert [p["answer"] for p in read_jsonl(review_dir(run) / "pairs.jsonl")] == ["Expert answer."]


def test_the_summary_says_waiting_with_the_next_step(fake_run):
    import io

    from rich.console import Console

    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter

    run = fake_run(
        {"review": {**REVIEW, "require_approval": True}, "split": {"plugin": "by_image"}}, n_images=1
    )
    out = io.StringIO()
    for quiet in (False, True):
        reporter = Reporter(quiet=quiet, console=Console(file=out, width=300, no_color=True))
        manifest = Engine(run.recipe, run.run_dir, reporter=reporter).run()
        assert manifest["status"] == "waiting"
    text = out.getvalue()
    assert "│ review │ waiting" in text and "│ split  │ waits" in text and "│ failed" not in text
    assert (
        text.count(
            f"review is waiting: 2 pair(s) await expert review; review them in the browser: vlkd review serve {run.run_dir}"
        )
        == 2
    )


def test_the_negative_flag_follows_an_edited_answer(fake_run, tmp_path):
    from vlkd.core.jsonl import write_jsonl_atomic

    run = fake_run({"review": REVIEW}, n_images=1, per_image=3)
    run.pairs[1].update(question="图中是否有签名?", answer="不存在", negative=True)
    write_jsonl_atomic(run.run_dir / "teach" / "pairs.jsonl", run.pairs)
    run.run()
    rows = read_csv(review_dir(run) / "review.csv")
    assert [r["negative"].lower() for r in rows] == ["false", "true", "false"]
    # the expert read the part number: the flag column, left as it was, follows the answer
    rows[1].update(answer="15400-PLM-A02", status="edited")
    rows[2].update(answer="不存在")  # and this one is not on the page after all
    import_review_file(run.run_dir, write_csv(tmp_path / "back.csv", rows))
    run.run()
    pairs = {p["question"]: p for p in read_jsonl(review_dir(run) / "pairs.jsonl")}
    assert (
        pairs["图中是否有签名?"]["answer"] == "15400-PLM-A02"
        and pairs["图中是否有签名?"]["negative"] is False
    )
    assert pairs["Question 2 about page 0?"]["negative"] is True
    # a flag set against the answer is refused with the reason, nothing applied
    rows = read_csv(review_dir(run) / "review.csv")
    rows[0].update(answer="Another answer.", negative="true")
    with pytest.raises(ReviewFileError) as err:
        import_review_file(run.run_dir, write_csv(tmp_path / "bad.csv", rows))
    assert (
        "row 2: negative is true but the answer 'Another answer.' does not say the information is missing"
        in str(err.value)
    )
