import json

import pytest

from vlkd.core.jsonl import JsonlAppender, read_jsonl, write_jsonl_atomic
from vlkd.core.ledger import Ledger


def test_torn_last_line_is_skipped_then_repaired(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b"')
    assert [r["a"] for r in read_jsonl(path)] == [1, 2]
    with JsonlAppender(path) as out:
        assert out.repaired_bytes == len(b'{"a": 3, "b"')
        out.append({"a": 4})
    assert [r["a"] for r in read_jsonl(path)] == [1, 2, 4]


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(ValueError, match=r"a.jsonl:2: not valid JSON"):
        list(read_jsonl(path))


def test_unicode_round_trip(tmp_path):
    path = tmp_path / "a.jsonl"
    write_jsonl_atomic(path, [{"q": "机油容量是多少?", "a": "不存在"}])
    assert "不存在" in path.read_text(encoding="utf-8")
    assert next(read_jsonl(path))["q"] == "机油容量是多少?"


def test_ledger_failed_items_are_retried_skipped_are_not(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record("a", "ok", [{"x": 1}])
    ledger.record("b", "skipped", reason="bad")
    ledger.record("c", "failed", reason="boom")
    ledger.close()
    again = Ledger(tmp_path)
    assert again.finished("a") and again.finished("b") and not again.finished("c")
    assert list(again.records(["c", "b", "a"])) == [{"x": 1}]
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "c"]


def test_read_json_names_file_line_and_column(tmp_path):
    from vlkd.core.errors import StageError
    from vlkd.core.jsonl import read_json

    path = tmp_path / "vlkd_model.json"
    path.write_text('{"a": 1,\n "b": }\n')
    with pytest.raises(StageError, match=r"vlkd_model.json:2:7: not valid JSON: Expecting value"):
        read_json(path)
    with pytest.raises(StageError, match=r"nope.json: missing; re-run the train stage"):
        read_json(tmp_path / "nope.json", missing="re-run the train stage")


TORN_IN_A_CHARACTER = '{"key":"k2","response":{"text":"刹车片'.encode()[:-2]  # cut inside 片


def test_a_last_line_torn_inside_a_utf8_character_is_torn_everywhere(tmp_path):
    """A full disk during teach with Chinese answers: the last line ends inside a character."""
    from vlkd.core.artifacts import scan_records
    from vlkd.core.records import ImageRecord

    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n' + TORN_IN_A_CHARACTER)
    assert [r["a"] for r in read_jsonl(path)] == [1]
    ledger_dir = tmp_path / "stage"
    ledger_dir.mkdir()
    (ledger_dir / "ledger.jsonl").write_bytes(
        b'{"key":"a","status":"ok","records":[]}\n' + TORN_IN_A_CHARACTER
    )
    assert Ledger(ledger_dir).finished("a")
    images = tmp_path / "images.jsonl"
    record = ImageRecord(id="x", path="x.png", width=1, height=1).model_dump_json()
    images.write_bytes(record.encode() + b"\n" + TORN_IN_A_CHARACTER)
    assert [r.id for _, r in scan_records(images, ImageRecord, "image")] == ["x"]


def test_the_call_journal_recovers_from_a_torn_utf8_tail(tmp_path):
    """Every resume of teach (plain, --from teach, --fresh) replays the journal first."""
    from vlkd.teach.cache import ResponseCache
    from vlkd.teach.journal import CallJournal

    cache = ResponseCache(tmp_path / "cache")
    journal = CallJournal(cache, tmp_path / "teach")
    seq = journal.sent("k1", "img1", 0.01)
    journal.answered(seq, "k1", {"text": "刹车片"})
    journal.sent("k2", "img2", 0.01)
    journal.close()
    with journal.path.open("ab") as fh:
        fh.write(TORN_IN_A_CHARACTER)
    assert journal.recover() == 1
    assert cache.get("k1") == {"text": "刹车片"}
    assert [e["key"] for e in journal.unanswered()] == ["k2"]  # sent, never answered


@pytest.mark.parametrize("bad", [b"not json", b'{"a": "\xe4\xb8"}'])
def test_a_corrupt_middle_line_is_a_user_error_naming_file_and_line(tmp_path, bad):
    from vlkd.core.errors import StageError

    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n' + bad + b'\n{"a": 2}\n')
    with pytest.raises(StageError, match=r"a.jsonl:2: not valid JSON; fix or delete this line"):
        list(read_jsonl(path))
    ledger_dir = tmp_path / "stage"
    ledger_dir.mkdir()
    entry = b'{"key": "a", "status": "ok", "records": []}\n'
    (ledger_dir / "ledger.jsonl").write_bytes(entry + bad + b"\n" + entry)
    with pytest.raises(StageError, match=r"ledger.jsonl:2: not valid JSON"):
        Ledger(ledger_dir)


def test_dumps_is_json_dumps_with_its_options():
    """One encoder for every line: the same text as ``json.dumps`` with the same options."""
    import datetime
    import json
    from pathlib import Path

    from vlkd.core.jsonl import dumps

    for obj in [
        {"a": 1, "b": [1.5, None, True], "c": "é 名 \u2028"},
        {"path": Path("/x/y"), "when": datetime.date(2026, 1, 2)},
        [float("inf"), "\x00"],
        "plain",
    ]:
        assert dumps(obj) == json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
