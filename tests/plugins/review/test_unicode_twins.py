"""Two input files named ``é.png``, one composed (NFC), one decomposed (NFD): told apart on the
page and in the sheet, and a sheet an application saved back in NFC still names each one."""

import csv
import hashlib
import unicodedata

import pytest
from PIL import Image

from vlkd.core.artifacts import read_pairs
from vlkd.plugins.review.imports import import_review_file
from vlkd.testing.fake_run import FakeRun, make_pairs

NFC = unicodedata.normalize("NFC", "é.png")
NFD = unicodedata.normalize("NFD", "é.png")


@pytest.fixture
def twins_run(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    images = []
    for i, name in enumerate((NFC, NFD)):
        path = folder / name
        Image.new("RGB", (96, 64), (200 * i, 40, 90)).save(path)
        images.append(
            {
                "id": hashlib.sha256(path.read_bytes()).hexdigest(),
                "path": str(path),
                "width": 96,
                "height": 64,
                "sources": [{"path": str(path)}],
                "category": "part_recognition",
            }
        )
    assert len(list(folder.iterdir())) == 2  # this file system keeps both
    run = FakeRun(
        tmp_path,
        {"review": {"plugin": "spreadsheet", "require_approval": True, "auto_approve": False}},
        images,
        make_pairs(images, 1),
    )
    assert run.run()["status"] == "waiting"
    return run, images


def sheet_rows(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_twins_look_different_on_the_page_and_in_the_sheet(twins_run):
    pytest.importorskip("starlette")
    from vlkd.plugins.review.web.store import ReviewStore

    run, _ = twins_run
    rows = sheet_rows(run.run_dir / "review" / "review.csv")
    shown = {row["image"] for row in rows}
    assert len(shown) == 2 and NFC in shown
    assert all(unicodedata.normalize("NFC", name) != NFC for name in shown - {NFC})
    store = ReviewStore(run.run_dir)
    names = {store.image_json(n)["name"] for n in range(2)}
    assert len({unicodedata.normalize("NFC", n) for n in names}) == 2  # not only in code points


def test_a_sheet_saved_back_in_nfc_is_matched_to_the_right_images(twins_run, tmp_path):
    run, images = twins_run
    rows = sheet_rows(run.run_dir / "review" / "review.csv")
    by_pair = {row["pair_id"]: row for row in rows}
    for row in rows:
        row["status"] = "approved"
    nfd_row = next(r for r in rows if NFD in r["image_path"])
    rows.append(  # a new question about the decomposed twin, named as the sheet shows it
        {**{k: "" for k in rows[0]}, "image": nfd_row["image"], "image_path": nfd_row["image_path"]}
        | {"question": "Which colour?", "answer": "red", "status": "approved"}
    )
    saved = tmp_path / "saved.csv"
    with saved.open("w", encoding="utf-8", newline="") as fh:
        text_rows = [{k: unicodedata.normalize("NFC", v or "") for k, v in row.items()} for row in rows]
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(text_rows)
    assert NFD not in saved.read_text(encoding="utf-8")
    summary = import_review_file(run.run_dir, saved)
    assert summary
    assert run.run()["stages"]["review"]["status"] == "done"
    pairs = read_pairs(run.run_dir / "review" / "pairs.jsonl")
    assert {p.id for p in pairs} >= set(by_pair)
    new = next(p for p in pairs if p.question == "Which colour?")
    assert new.image_id == images[1]["id"]  # the decomposed twin, not the composed one
