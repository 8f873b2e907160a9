"""``second_teacher`` with the official openai SDK against the fake provider on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json

import pytest

from vlkd.testing.fake_provider import FakeProvider, pairs_csv
from vlkd.testing.verify import flags_of, make_page, pairs_of, read_jsonl, run_recipe, write_pairs

pytest.importorskip("openai")

ROWS = [
    ("What is the part number?", "47730-06330"),
    ("What is the torque?", "103 Nm"),
    ("Who is the supplier?", "Aisin Seiki"),
    ("What is the warranty date?", "不存在"),
]
#: what the second teacher says to each question
SECOND = {
    "What is the part number?": "47730-06330",  # agrees
    "What is the torque?": "103 N·m",  # agrees (ANLS above 0.5)
    "Who is the supplier?": "Brembo",  # disagrees
    "What is the warranty date?": "2025-03-01",  # one says 不存在, the other not
}


def _text(req: dict) -> str:
    out = []
    for msg in req.get("messages", []):
        content = msg.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        out += [p.get("text", "") for p in parts if p.get("type") == "text"]
    return "\n".join(out) + "\n" + str(req.get("system") or "")


def answer(image: str, req: dict) -> str:
    text = _text(req)
    return pairs_csv([{"question": q, "answer": a} for q, a in SECOND.items() if q in text])


def _sections(tmp_path, server, n_images=2, **teacher):
    pages = tmp_path / "pages"
    rows = []
    for i in range(n_images):
        make_page(pages / f"p{i}.png", [f"Sheet {i}"], size=(300, 100))
        rows += [(f"p{i}.png", q, a) for q, a in ROWS]
    csv = write_pairs(tmp_path / "pairs.csv", rows)
    return {
        "ingest": {"plugin": "files", "inputs": str(pages), "workers": 1},
        "teach": {"plugin": "annotations", "path": str(csv)},
        "verify": [
            {
                "plugin": "second_teacher",
                "teacher": {
                    "plugin": "openai",
                    "model": "gpt-4o",
                    "base_url": server.openai_url,
                    "api_key": server.api_key,
                    "prompt": {"language": "en"},
                    "retry_initial_delay": 0,
                    **teacher,
                },
            }
        ],
    }


def test_disagreements_are_flagged_through_the_teach_services(tmp_path):
    with FakeProvider(answer=answer) as server:
        sections = _sections(tmp_path, server)
        manifest, rd = run_recipe(tmp_path, sections)
        pairs = pairs_of(rd)
        assert len(pairs) == 8
        got = {}
        for p in pairs:
            got.setdefault(p["question"], set()).update(flags_of(p))
        assert got == {
            "What is the part number?": set(),
            "What is the torque?": set(),
            "Who is the supplier?": {"disagree"},
            "What is the warranty date?": {"disagree"},
        }
        flag = next(f for p in pairs for f in p["flags"] if p["question"] == "Who is the supplier?")
        assert flag["check"] == "second_teacher" and "Brembo" in flag["reason"] and "gpt-4o" in flag["reason"]
        # the questions were asked as written, once per image, and the usage counted in verify
        body = _text(server.bodies[0])
        assert all(q in body for q, _ in ROWS) and "不存在" in body
        assert sum(server.requests.values()) == 2
        verify = manifest["stages"]["verify"]
        assert verify["usage"]["requests"] == 2 and verify["usage"]["input_tokens"] > 0
        assert verify["facts"]["flags"] == {"second_teacher": {"disagree": 4}}
        assert server.api_key not in (rd / "manifest.json").read_text()
        # a changed check re-runs verify from the cache: not one call more
        sections["verify"][0]["anls_threshold"] = 0.4
        manifest, rd = run_recipe(tmp_path, sections)
        assert sum(server.requests.values()) == 2
        assert manifest["stages"]["verify"]["usage"]["cached"] == 2


def test_an_image_the_second_teacher_fails_on_passes_unflagged_with_a_note(tmp_path):
    with FakeProvider(answer=answer) as server:
        sections = _sections(tmp_path, server, parse_retries=0)
        bad = hashlib.sha256((tmp_path / "pages" / "p1.png").read_bytes()).hexdigest()
        server.image_faults[bad] = ["malformed"]
        manifest, rd = run_recipe(tmp_path, sections)
        assert manifest["stages"]["verify"]["status"] == "done"
        images = {r["id"]: r["path"] for r in read_jsonl(rd / "ingest" / "images.jsonl")}
        pairs = pairs_of(rd)
        failed = [p for p in pairs if images[p["image_id"]].endswith("p1.png")]
        assert len(failed) == 4 and not any(p["flags"] for p in failed)
        assert all(p["checks"]["second_teacher"] == {"answered": False} for p in failed)
        notes = read_jsonl(rd / "verify" / "notes.jsonl")
        assert (
            len(notes) == 1 and notes[0]["image_id"] == bad and "failed on this image" in notes[0]["notes"][0]
        )
        failures = read_jsonl(rd / "verify" / "second_teacher" / "failures.jsonl")
        assert len(failures) == 1 and failures[0]["image_id"] == bad
        assert manifest["stages"]["verify"]["facts"]["checks"]["second_teacher"]["failed_images"] == 1


def test_dry_run_says_what_the_second_teacher_will_cost(tmp_path):
    import io

    from rich.console import Console

    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.testing.verify import registry

    with FakeProvider(answer=answer) as server:
        sections = _sections(tmp_path, server)
        run_recipe(tmp_path, {k: v for k, v in sections.items() if k != "verify"})
        path = tmp_path / "dry.yaml"
        path.write_text(json.dumps({"name": "v", **sections}))
        out = io.StringIO()
        reporter = Reporter(console=Console(file=out, width=200))
        Engine(
            load_recipe(path, registry=registry()), tmp_path / "run", dry_run=True, reporter=reporter
        ).run()
        assert sum(server.requests.values()) == 0
    assert "second_teacher: gpt-4o: 2 images: 0 done, 0 cached, 2 calls to make" in out.getvalue()


def test_a_teacher_section_with_a_typo_is_a_recipe_error(tmp_path):
    from vlkd.core.errors import RecipeError

    with FakeProvider() as server:
        sections = _sections(tmp_path, server, temprature=0.2)
        with pytest.raises(RecipeError, match=r"verify\.0\.teacher.*temprature"):
            run_recipe(tmp_path, sections)
        sections["verify"][0]["teacher"] = {"plugin": "opneai"}
        with pytest.raises(RecipeError, match="did you mean 'openai'"):
            run_recipe(tmp_path, sections)


def test_ocr_context_and_ocr_grounding_read_each_page_once(tmp_path):
    pytest.importorskip("rapidocr_onnxruntime")
    from vlkd import ocr as ocr_engine

    pages = tmp_path / "pages"
    make_page(pages / "a.png", ["Part number: 47730-06330", "Supplier: Aisin"])
    make_page(pages / "b.png", ["Torque: 103 Nm"])
    with FakeProvider() as server:
        before = ocr_engine.reads
        manifest, rd = run_recipe(
            tmp_path,
            {
                "ingest": {"plugin": "files", "inputs": str(pages), "workers": 1},
                "teach": {
                    "plugin": "openai",
                    "model": "gpt-4o",
                    "base_url": server.openai_url,
                    "api_key": server.api_key,
                    "ocr_context": True,
                },
                "verify": [{"plugin": "ocr_grounding"}],
            },
        )
        assert ocr_engine.reads - before == 2
        assert "47730-06330" in _text(server.bodies[0]) + _text(server.bodies[1])  # the OCR text went out
    assert manifest["stages"]["verify"]["status"] == "done"
    # the fake teacher's part number is on neither page
    assert any("ungrounded" in flags_of(p) for p in pairs_of(rd))
