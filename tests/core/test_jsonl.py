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
