"""``ocr_grounding`` on pages whose text is known: ungrounded answers, suspect negatives, bad pages."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlkd.testing.verify import flags_of, make_page, pairs_of, read_jsonl, write_pairs

pytest.importorskip("rapidocr_onnxruntime")

DEMO = Path(__file__).resolve().parents[3] / "recipes" / "data" / "demo"
PAGE = [
    "SERVICE SHEET  Front axle",
    "Part number: 47730-06330",
    "Torque: 103 Nm",
    "Warranty date: 2025-03-01",
    "Supplier: Aisin Seiki",
]
ROWS = [
    # (question, answer, expected flags)
    ("What is the part number?", "47730-06330", set()),
    ("What is the part number of the caliper?", "47730-06880", {"ungrounded"}),  # one digit group wrong
    ("What is the torque?", "103 Nm", set()),
    ("What is the torque?!", "130 Nm", {"ungrounded"}),
    ("Who is the supplier?", "aisin  seiki", set()),  # case and spaces differ
    ("Who is the supplier?!", "Brembo", {"ungrounded"}),
    ("How do I fit it?", "Clean the hub, then fit the disc and tighten the nuts in a star pattern.", set()),
    ("What is the warranty date shown in the image?", "不存在", {"negative_suspect"}),
    ("What is the fill capacity shown in the image?", "不存在", set()),
]


def _sections(tmp_path, rows, pages):
    csv = write_pairs(tmp_path / "pairs.csv", rows)
    return {
        "ingest": {"plugin": "files", "inputs": str(pages), "workers": 1},
        "teach": {"plugin": "annotations", "path": str(csv)},
    }


def test_ungrounded_and_negative_suspect_on_a_known_page(tmp_path, run):
    pages = tmp_path / "pages"
    make_page(pages / "sheet.png", PAGE)
    rows = [("sheet.png", q, a) for q, a, _ in ROWS]
    manifest, rd = run({**_sections(tmp_path, rows, pages), "verify": [{"plugin": "ocr_grounding"}]})
    got = {p["question"]: p for p in pairs_of(rd)}
    for q, a, expected in ROWS:
        assert flags_of(got[q]) == expected, (q, a, got[q]["flags"], got[q].get("checks"))
        assert got[q]["answer"] == (a if a != "不存在" else "不存在")
    # the decision about each answer is recorded, extractive or not
    assert got["What is the part number?"]["checks"]["ocr_grounding"] == {"kind": "code", "score": 1.0}
    assert got["How do I fit it?"]["checks"]["ocr_grounding"] == {"kind": "free", "checked": False}
    reason = got["What is the warranty date shown in the image?"]["flags"][0]["reason"]
    assert "warranty date" in reason.lower()
    assert manifest["stages"]["verify"]["facts"]["flags"] == {
        "ocr_grounding": {"negative_suspect": 1, "ungrounded": 3}
    }


@pytest.mark.skipif(not (DEMO / "manual_torque.png").exists(), reason="demo images not generated")
def test_chinese_answers_are_matched_by_characters(tmp_path, run):
    pages = tmp_path / "pages"
    pages.mkdir()
    shutil.copy(DEMO / "manual_torque.png", pages / "m.png")
    rows = [
        ("m.png", "车轮螺母的力矩是什么?", "103 N·m"),
        ("m.png", "火花塞的力矩是什么?", "52 N·m"),
        ("m.png", "图中的注意事项对象是什么?", "车轮螺母"),
        ("m.png", "图中的零件名称是什么?", "制动钳支架螺丝"),  # one character off: fuzzy match
        ("m.png", "图中的零件名称是什么?!", "刹车盘"),
        ("m.png", "机油放油螺塞的力矩是什么?", "不存在"),
        ("m.png", "图中标注的胎压是多少?", "不存在"),
    ]
    _, rd = run({**_sections(tmp_path, rows, pages), "verify": [{"plugin": "ocr_grounding"}]})
    got = {p["question"]: flags_of(p) for p in pairs_of(rd)}
    assert got == {
        "车轮螺母的力矩是什么?": set(),
        "火花塞的力矩是什么?": {"ungrounded"},
        "图中的注意事项对象是什么?": set(),
        "图中的零件名称是什么?": set(),
        "图中的零件名称是什么?!": {"ungrounded"},
        "机油放油螺塞的力矩是什么?": {"negative_suspect"},
        "图中标注的胎压是多少?": set(),
    }


def test_a_page_ocr_cannot_read_or_without_text_is_unverifiable_never_a_crash(tmp_path, run):
    pages = tmp_path / "pages"
    make_page(pages / "good.png", PAGE)
    make_page(pages / "blank.png", [])
    make_page(pages / "later_broken.png", [*PAGE, "Sheet 2"])
    rows = [
        (n, "What is the part number?", "47730-06330") for n in ("good.png", "blank.png", "later_broken.png")
    ]
    sections = {**_sections(tmp_path, rows, pages), "preprocess": [{"plugin": "to_rgb"}]}
    _, rd = run(sections)  # up to teach; then the copy verify reads breaks (a disk error, a bad copy)
    names = {}
    for image in read_jsonl(rd / "preprocess" / "images.jsonl"):
        names[image["id"]] = Path(image["sources"][0]["path"]).name
        if names[image["id"]] == "later_broken.png":
            (rd / image["path"]).write_bytes(b"\x89PNG\r\n\x1a\n broken after preprocess")
    manifest, rd = run({**sections, "verify": [{"plugin": "ocr_grounding"}]})
    assert manifest["stages"]["verify"]["status"] == "done"
    assert manifest["stages"]["teach"]["status"] == "done"
    got = {names[p["image_id"]]: p for p in pairs_of(rd)}
    assert len(got) == 3
    assert flags_of(got["good.png"]) == set()
    assert flags_of(got["blank.png"]) == {"unverifiable"}
    assert "no text" in got["blank.png"]["flags"][0]["reason"]
    assert flags_of(got["later_broken.png"]) == {"unverifiable"}
    assert "cannot be read" in got["later_broken.png"]["flags"][0]["reason"]
    assert got["later_broken.png"]["answer"] == "47730-06330"  # the pair flows on unchanged
    notes = read_jsonl(rd / "verify" / "notes.jsonl")
    assert len(notes) == 1 and "cannot be read" in notes[0]["notes"][0]


def test_ocr_runs_once_per_image_across_teach_and_verify(tmp_path, run):
    from vlkd import ocr as ocr_engine

    pages = tmp_path / "pages"
    make_page(pages / "a.png", PAGE)
    make_page(pages / "b.png", ["Part number: 90915-YZZD2", "Qty: 4"])
    before = ocr_engine.reads
    _, rd = run(
        {
            "ingest": {"plugin": "files", "inputs": str(pages), "workers": 1},
            "teach": {"plugin": "ocr", "language": "en"},
            "verify": [{"plugin": "ocr_grounding"}, {"plugin": "duplicates"}],
        }
    )
    assert ocr_engine.reads - before == 2
    assert len(list((rd / "cache" / "ocr").rglob("*.json"))) == 2
    # the OCR teacher's own answers are on its page: nothing ungrounded
    pairs = pairs_of(rd)
    assert pairs and not any("ungrounded" in flags_of(p) for p in pairs)
    # spaces OCR dropped are put back: questions read as words
    assert all("Partnumber" not in p["question"] for p in pairs)


SLOW_CHECK = '''
import time
from vlkd.core.hookspecs import hookimpl
from vlkd.core.verify import Verifier

class Slow(Verifier):
    """Takes a while per image and writes down every image it checks."""
    def check(self, image, pairs, found):
        time.sleep(0.3)
        with open(__file__ + ".log", "a") as f:
            f.write(image.id + "\\n")

@hookimpl
def vlkd_register_verifiers(register):
    register("slow", Slow)
'''


def test_kill_9_mid_verify_then_resume_checks_each_image_once(tmp_path):
    pages = tmp_path / "pages"
    for i in range(10):
        make_page(pages / f"p{i}.png", [f"Page {i}"], size=(200, 80))
    csv = write_pairs(tmp_path / "pairs.csv", [(f"p{i}.png", f"Q{i}?", f"A{i}") for i in range(10)])
    (tmp_path / "slowcheck.py").write_text(SLOW_CHECK)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        json.dumps(
            {
                "name": "k",
                "ingest": {"plugin": "files", "inputs": str(pages), "workers": 1},
                "teach": {"plugin": "annotations", "path": str(csv)},
                "verify": [{"plugin": "slow"}, {"plugin": "duplicates"}],
            }
        )
    )
    rd = tmp_path / "run"
    env = {
        **os.environ,
        "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1",
        "VLKD_PLUGINS": "slowcheck",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    cmd = [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ledger = rd / "verify" / "ledger.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ledger.exists() and len(ledger.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {e["key"] for e in read_jsonl(ledger)}
    assert 3 <= len(finished) < 10, proc.stdout.read().decode()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    keys = [e["key"] for e in read_jsonl(ledger)]
    assert len(keys) == len(set(keys)) == 10  # nothing redone, nothing lost
    checked = (tmp_path / "slowcheck.py.log").read_text().split()
    assert all(checked.count(k) == 1 for k in finished)
    assert len(pairs_of(rd)) == 10


def test_a_date_inside_a_part_number_is_no_date_on_the_page():
    from vlkd.plugins.verify.ocr_grounding import Page

    page = Page("Part number: 47730-06330\nQty: 2")
    assert page.field_shown("What date is given in the image?") is None
    assert page.field_shown("What is the date?") is None
    assert Page("Date: 2024-03-18").field_shown("What date is given in the image?") is not None
    assert Page("Battery 12 V").field_shown("图中标注的额定电压是多少?") == "12 V"
