"""``vlkd score FILE.jsonl``: any model's answers scored with vlkd's metrics, through the real CLI."""

import json
from pathlib import Path

from vlkd.testing.fake_run import run_cli

LINES = [
    {"prediction": "04465-33450", "answers": ["04465-34000"], "category": "part_recognition"},
    {"prediction": "35NM", "answers": ["35 N·m"], "category": "manual_parsing", "question": "力矩?"},
    {"prediction": "不存在", "answers": ["不存在"], "category": "manual_parsing", "negative": True},
    {"prediction": "刹车片", "answers": ["刹车盘", "刹车片"], "category": "part_recognition", "id": "q4"},
    {"prediction": "不存在", "answers": ["P0301"]},
]


def write(tmp_path, lines) -> Path:
    path = tmp_path / "answers.jsonl"
    path.write_text(
        "".join((json.dumps(x, ensure_ascii=False) if not isinstance(x, str) else x) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def test_per_item_one_object_per_line_in_input_order(tmp_path, capsys):
    code, text = run_cli(capsys, "score", str(write(tmp_path, LINES)), "--per-item")
    assert code == 0
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == {
        "line": 1,
        "category": "part_recognition",
        "exact_match": 0.0,
        "anls": rows[0]["anls"],
        "anls_docvqa": rows[0]["anls_docvqa"],
        "relaxed_accuracy": 0.0,  # a wrong part number is wrong
        "not_present_recall": None,
        "not_present_precision": None,
    }
    assert rows[1]["exact_match"] == 1.0 and rows[1]["relaxed_accuracy"] == 1.0  # 35NM = 35 N·m
    assert rows[2]["not_present_recall"] == 1.0 and rows[2]["not_present_precision"] == 1.0
    assert rows[2]["relaxed_accuracy"] is None  # not a quantity answer
    assert rows[3]["id"] == "q4" and rows[3]["exact_match"] == 1.0  # best over the answers
    assert rows[4]["category"] == "uncategorized"
    assert rows[4]["not_present_precision"] == 0.0 and rows[4]["not_present_recall"] is None
    for r in rows:
        for key in ("exact_match", "anls", "anls_docvqa", "relaxed_accuracy"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0


def test_json_summary_with_intervals_by_category(tmp_path, capsys):
    code, text = run_cli(
        capsys, "score", str(write(tmp_path, LINES)), "--json", "--by", "category", "--samples", "200"
    )
    assert code == 0
    out = json.loads(text)
    assert out["items"] == 5
    assert out["overall"]["exact_match"]["value"] == 0.6
    low, high = out["overall"]["exact_match"]["ci"]
    assert low < 0.6 < high
    assert out["overall"]["relaxed_accuracy"] == {
        "value": 0.5,
        "ci": out["overall"]["relaxed_accuracy"]["ci"],
        "n": 2,
    }
    assert sorted(out["groups"]) == ["manual_parsing", "part_recognition", "uncategorized"]
    assert out["groups"]["manual_parsing"]["exact_match"]["value"] == 1.0
    assert out["bootstrap"]["samples"] == 200


def test_table_names_every_metric_and_group(tmp_path, capsys):
    code, text = run_cli(capsys, "score", str(write(tmp_path, LINES)), "--by", "category", "--samples", "50")
    assert code == 0
    for word in ("Exact match", "ANLS (vlkd)", "ANLS (DocVQA script)", "Relaxed accuracy", "manual_parsing"):
        assert word in text


def test_bad_lines_are_named_by_file_and_line(tmp_path, capsys):
    path = write(
        tmp_path,
        [
            LINES[0],
            "not json",
            {"answers": ["x"]},
            {"prediction": "x", "answers": "x"},
            {"prediction": None, "answers": ["x"]},
            {"prediction": "x", "answers": []},
            {"prediction": "x", "answers": ["x"], "negative": "yes"},
            [1, 2],
        ],
    )
    code, text = run_cli(capsys, "score", str(path))
    assert code == 2
    assert "Traceback" not in text
    assert f"{path}:2: not JSON" in text
    assert f"{path}:3: missing 'prediction'" in text
    assert f'{path}:4: answers must be a list of strings: ["x"]' in text
    assert f"{path}:5: prediction must be a string" in text
    assert f"{path}:6: answers must be a non-empty list" in text
    assert f"{path}:7: negative must be true or false" in text
    assert f"{path}:8: expected a JSON object" in text
    assert "7 bad lines" in text


def test_missing_empty_and_binary_files_are_user_errors(tmp_path, capsys):
    code, text = run_cli(capsys, "score", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl: no such file" in text
    (tmp_path / "empty.jsonl").write_text("\n\n")
    code, text = run_cli(capsys, "score", str(tmp_path / "empty.jsonl"))
    assert code == 2 and "no lines to score" in text
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    code, text = run_cli(capsys, "score", str(tmp_path / "bin.jsonl"))
    assert code == 2 and "not UTF-8" in text
