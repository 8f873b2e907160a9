"""``student_agreement``'s store of the student's answers after a kill: a last line cut inside a
UTF-8 character (Chinese answers, kill -9 or a full disk mid-write) is one answer asked again,
not a UnicodeDecodeError that stops every later verify."""

from __future__ import annotations

import json

from vlkd.plugins.verify.student_agreement import ANSWERS_FILE, _read_answers


def test_a_line_torn_inside_a_character_is_asked_again_not_a_crash(tmp_path):
    store = tmp_path / ANSWERS_FILE
    whole = json.dumps({"key": "a", "answer": "不存在"}, ensure_ascii=False).encode() + b"\n"
    torn = json.dumps({"key": "b", "answer": "制动盘"}, ensure_ascii=False).encode()[:-6]  # mid-character
    store.write_bytes(whole + torn)
    assert _read_answers(store) == {"a": "不存在"}
    store.write_bytes(whole + b"\xff\xfe not text\n" + whole.replace(b'"a"', b'"c"'))  # a damaged middle line
    assert _read_answers(store) == {"a": "不存在", "c": "不存在"}
