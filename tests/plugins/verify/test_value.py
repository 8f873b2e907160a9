"""The value of the checks against the experts: per flag precision and recall, teacher accuracy."""

from __future__ import annotations

import csv

import pytest

from vlkd.core.records import Flag, QARecord
from vlkd.metrics.check_value import check_value
from vlkd.testing.verify import make_page, read_jsonl, run_recipe, write_pairs


def pair(i, review, flags=(), category="parts", **extra):
    return QARecord(
        id=f"p{i}",
        image_id="img",
        question=f"q{i}",
        answer="a",
        review=review,
        category=category,
        flags=[Flag(check="c", flag=f) for f in flags],
        provenance=extra.pop("provenance", {"plugin": "ocr"}),
        **extra,
    )


def test_precision_recall_and_teacher_accuracy_counted_by_hand():
    pairs = [
        pair(1, "edited", ["ungrounded"]),  # a hit
        pair(2, "rejected", ["ungrounded", "disagree"]),  # a hit for both
        pair(3, "approved", ["ungrounded"]),  # a false alarm
        pair(4, "rejected"),  # a miss
        pair(5, "approved"),
        pair(6, "approved", category="manual"),
        pair(7, "pending", ["ungrounded"]),  # not reviewed: not counted
        pair(8, "approved", ["disagree"]),  # auto-approved: no expert's decision
        pair(9, "approved", provenance={"plugin": "review"}),  # added by the experts
    ]
    value = check_value(pairs, [{"pair_id": "p8", "action": "auto_approve"}])
    assert value["reviewed"] == 6 and value["changed"] == 3
    assert value["teacher_accuracy"] == 0.5
    assert value["flags"]["ungrounded"] == {"flagged": 3, "changed": 2, "precision": 0.6667, "recall": 0.6667}
    assert value["flags"]["disagree"] == {"flagged": 1, "changed": 1, "precision": 1.0, "recall": 0.3333}
    assert value["flags"]["any"]["flagged"] == 3
    manual = value["per_category"]["manual"]
    assert manual == {"reviewed": 1, "changed": 0, "teacher_accuracy": 1.0, "flags": {}}
    assert value["per_category"]["parts"]["flags"]["ungrounded"]["recall"] == 0.6667


def test_nothing_reviewed_gives_no_shares():
    value = check_value([pair(1, "pending", ["ungrounded"])])
    assert value["reviewed"] == 0 and value["teacher_accuracy"] is None and value["flags"] == {}


def test_review_stage_facts_hold_the_value_of_the_checks(tmp_path):
    pytest.importorskip("openpyxl")
    pytest.importorskip("rapidocr_onnxruntime")
    from vlkd.plugins.review.imports import import_review_file
    from vlkd.plugins.review.sheet import COLUMNS

    pages = tmp_path / "pages"
    make_page(pages / "a.png", ["Part number: 47730-06330", "Supplier: Aisin"])
    rows = [
        ("a.png", "What is the part number?", "47730-06330"),  # right, not flagged
        ("a.png", "Who is the supplier?", "Brembo"),  # wrong and flagged: the expert fixes it
        ("a.png", "What is the part number?!", "47730-06880"),  # wrong, flagged, rejected
    ]
    csv_file = write_pairs(tmp_path / "pairs.csv", rows)
    sections = {
        "ingest": {"plugin": "files", "inputs": str(pages), "workers": 1},
        "teach": {"plugin": "annotations", "path": str(csv_file)},
        "verify": [{"plugin": "ocr_grounding"}],
        "review": {"plugin": "spreadsheet", "require_approval": True},
    }
    manifest, rd = run_recipe(tmp_path, sections)
    with (rd / "review" / "review.csv").open(encoding="utf-8-sig", newline="") as fh:
        sheet = list(csv.DictReader(fh))
    # the sheet puts flagged pairs first and shows why
    assert sheet[0]["flags"] and "ungrounded" in sheet[0]["flags"]
    for row in sheet:
        if row["answer"] == "Brembo":
            row["answer"] = "Aisin"
        elif row["answer"] == "47730-06880":
            row["status"] = "rejected"
        else:
            row["status"] = "approved"
    back = tmp_path / "back.csv"
    with back.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows({c: r.get(c, "") for c in COLUMNS} for r in sheet)
    import_review_file(rd, back)
    manifest, rd = run_recipe(tmp_path, sections)
    value = manifest["stages"]["review"]["facts"]["verify_value"]
    assert value["reviewed"] == 3 and value["changed"] == 2 and value["teacher_accuracy"] == 0.3333
    assert value["flags"]["ungrounded"] == {"flagged": 2, "changed": 2, "precision": 1.0, "recall": 1.0}
    flags = {
        p["answer"]: [f["flag"] for f in p["flags"]] for p in read_jsonl(rd / "review" / "all_pairs.jsonl")
    }
    assert flags["Aisin"] == ["ungrounded"]  # the expert's answer keeps the flag that sent it there
