"""``vlkd score`` on files as other tools write them: a BOM, an id twice, pandas' NaN."""

import json

from vlkd.testing.fake_run import run_cli

ROW = {"prediction": "35 N·m", "answers": ["35 N·m"], "category": "manual_parsing"}


def test_a_utf8_bom_is_not_part_of_the_first_line(tmp_path, capsys):
    path = tmp_path / "answers.jsonl"
    path.write_bytes("\ufeff".encode() + (json.dumps(ROW, ensure_ascii=False) + "\n").encode())
    code, text = run_cli(capsys, "score", str(path), "--json")
    assert code == 0, text
    assert json.loads(text)["items"] == 1


def test_an_id_given_twice_is_named_with_both_lines(tmp_path, capsys):
    path = tmp_path / "answers.jsonl"
    rows = [{**ROW, "id": "q1"}, {**ROW, "id": "q2"}, {**ROW, "id": "q1"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    code, text = run_cli(capsys, "score", str(path))
    assert code == 2 and "Traceback" not in text
    assert f"{path}:3: id 'q1' again (first on line 1)" in text


def test_a_nan_category_is_no_category(tmp_path, capsys):
    path = tmp_path / "answers.jsonl"
    path.write_text(
        json.dumps(ROW, ensure_ascii=False)
        + "\n"
        + '{"prediction": "x", "answers": ["y"], "category": NaN}\n',
        encoding="utf-8",
    )
    code, text = run_cli(capsys, "score", str(path), "--per-item")
    assert code == 0, text
    groups = [json.loads(line)["category"] for line in text.splitlines()]
    assert groups[0] == "manual_parsing" and groups[1] != "nan"
    code, text = run_cli(capsys, "score", str(path), "--json", "--by", "category")
    assert "nan" not in json.loads(text)["groups"]
