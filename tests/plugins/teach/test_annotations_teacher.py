"""Importing existing pairs: the seed's output.csv (with its quirks), JSONL, matching by image name."""

import json

import pytest

from vlkd.core.errors import StageError
from vlkd.testing.teach import ledger, read_pairs


def seed_output_csv(names: list[str]) -> str:
    # what the seed's loop writes: its split(',') kept the model's quotes, csv.writer tripled them,
    # and the model's own "问题","答案" header row ended up as a data row
    return (
        "\n".join(
            [
                "图像名称,问题,答案",
                f'{names[0]},"""问题""","""答案"""',
                f'{names[0]},"""图中的零件号是什么?""","""04465-02220"""',
                f'{names[0]},"""图中是否有签名?""","""不存在"""',
                f'{names[1]},"""拧紧力矩是多少?""","""103 N·m, 分两次"""',
                "",
                "other_image.png,Q?,A",
                f"{names[1]},,empty question row",
            ]
        )
        + "\n"
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_seed_output_csv(tmp_path, images, run_teach, encoding):
    folder = images(3)
    names = sorted(p.name for p in folder.glob("*.png"))
    csv_path = tmp_path / "output.csv"
    csv_path.write_bytes(seed_output_csv(names).encode(encoding))
    manifest, rd = run_teach(folder, {"plugin": "annotations", "path": str(csv_path)})
    pairs = read_pairs(rd)
    assert [(p["question"], p["answer"], p["negative"]) for p in pairs] == [
        ("图中的零件号是什么?", "04465-02220", False),
        ("图中是否有签名?", "不存在", True),
        ("拧紧力矩是多少?", "103 N·m, 分两次", False),
    ]
    status = {e["key"]: e["status"] for e in ledger(rd)}
    assert sorted(status.values()) == ["ok", "ok", "skipped"]
    teach = manifest["stages"]["teach"]
    assert teach["counts"]["skipped_by_reason"] == {"no annotations": 1}
    assert teach["facts"]["annotations_unmatched"] == 1
    assert teach["facts"]["annotations_unmatched_examples"] == ["line 7: other_image.png"]


def test_jsonl_with_paths_and_custom_columns(tmp_path, images, run_teach):
    folder = images(2)
    paths = sorted(folder.glob("*.png"))
    src = tmp_path / "pairs.jsonl"
    src.write_text(
        "\n".join(
            json.dumps({"img": str(p), "q": f"Q{i}?", "ans": f"A{i}"}, ensure_ascii=False)
            for i, p in enumerate(paths)
        )
        + "\n",
        encoding="utf-8",
    )
    teach = {
        "plugin": "annotations",
        "path": str(src),
        "image_column": "img",
        "question_column": "q",
        "answer_column": "ans",
    }
    _, rd = run_teach(folder, teach)
    assert [p["answer"] for p in read_pairs(rd)] == ["A0", "A1"]


def test_unknown_columns_and_bad_lines_are_named(tmp_path, images, run_teach):
    folder = images(1)
    bad = tmp_path / "x.csv"
    bad.write_text("file,text\na.png,hello\n", encoding="utf-8")
    with pytest.raises(
        StageError, match=r"x.csv: cannot tell which column holds the question .*columns: file, text"
    ):
        run_teach(folder, {"plugin": "annotations", "path": str(bad)})
    broken = tmp_path / "y.jsonl"
    broken.write_text('{"image": "a.png", "question": "Q?", "answer": "A"}\n{oops\n', encoding="utf-8")
    with pytest.raises(StageError, match=r"y.jsonl:2: not valid JSON"):
        run_teach(folder, {"plugin": "annotations", "path": str(broken)})
