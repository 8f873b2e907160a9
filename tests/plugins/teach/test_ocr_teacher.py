"""The offline OCR teacher: real rapidocr on rendered and demo images, rules on Chinese text lines."""

from pathlib import Path

import pytest

from vlkd.ocr import TextBox
from vlkd.plugins.teach.ocr_rules import extract_pairs
from vlkd.testing.teach import ledger, read_pairs

DEMO = Path(__file__).resolve().parents[3] / "recipes" / "data" / "demo"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def render(path: Path, lines: list[tuple[int, int, str]], size=(760, 400)) -> None:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 24)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    for x, y, text in lines:
        draw.text((x, y), text, fill="black", font=font)
    img.save(path)


@pytest.mark.skipif(not Path(FONT).exists(), reason="DejaVu font not installed")
def test_rendered_document_gives_extractive_pairs_and_negatives(tmp_path, run_teach):
    folder = tmp_path / "docs"
    folder.mkdir()
    render(
        folder / "brake.png",
        [
            (20, 15, "Front Brake Service"),
            (20, 70, "Part No.: 47730-02220"),
            (20, 125, "Item"),
            (300, 125, "Torque"),
            (520, 125, "Size"),
            (20, 170, "Wheel nut"),
            (300, 170, "103 N·m"),
            (520, 170, "M12"),
            (20, 215, "Caliper bolt"),
            (300, 215, "107 N·m"),
            (520, 215, "M14"),
            (20, 290, "WARNING: Do not reuse the bolts"),
        ],
    )
    manifest, rd = run_teach(folder, {"plugin": "ocr", "language": "en", "negative_ratio": 0.2})
    pairs = read_pairs(rd)
    answers = {p["answer"].replace(" ", "").lower() for p in pairs if not p["negative"]}
    assert "47730-02220" in answers  # key: value field
    assert any(a.startswith("103n") for a in answers)  # table cell
    assert any("reuse" in a for a in answers)  # warning text
    negatives = [p for p in pairs if p["negative"]]
    assert negatives and all(p["answer"] == "不存在" for p in negatives)
    # the image shows part number and torque: no negative may ask for those
    assert not any("part number" in p["question"] or "torque" in p["question"] for p in negatives)
    assert all(p["provenance"]["plugin"] == "ocr" for p in pairs)
    facts = manifest["stages"]["teach"]["facts"]
    assert facts["negatives"] == len(negatives) and facts["failed_images"] == 0


@pytest.mark.skipif(not (DEMO / "manual_torque.png").exists(), reason="demo images not generated")
def test_demo_manual_page_in_chinese(tmp_path, run_teach):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "manual_torque.png").write_bytes((DEMO / "manual_torque.png").read_bytes())
    _, rd = run_teach(folder, {"plugin": "ocr"})
    pairs = read_pairs(rd)
    by_q = {p["question"]: p["answer"] for p in pairs}
    assert any(q.startswith("车轮螺母") and "103" in a for q, a in by_q.items()), by_q
    assert any("注意" in q for q in by_q), by_q
    # a re-run of the stage reads the cache: no OCR, same pairs
    _, rd2 = run_teach(folder, {"plugin": "ocr"}, fresh=True)
    assert read_pairs(rd2) == pairs and ledger(rd2)[0]["usage"]["cached"] == 1


def _line(y: float, *cells: tuple[float, str]) -> list[TextBox]:
    return [TextBox(text, 0.9, x, y, x + 20 * len(text), y + 20) for x, text in cells]


def test_rules_on_chinese_lines():
    lines = [
        _line(0, (0, "保养手册 第5章")),
        _line(40, (0, "日期Date：2024-03-18"), (400, "车型：卡罗拉")),
        _line(80, (0, "部位 Location"), (300, "力矩 Torque")),
        _line(120, (0, "车轮螺母 Wheel nuts"), (300, "103 N·m")),
        _line(160, (0, "火花塞 Spark plug"), (300, "25 N·m")),
        _line(200, (0, "警告：发动机热时不要打开散热器盖")),
    ]
    pairs = extract_pairs(lines, lang="auto", negative_answer="不存在", negative_ratio=0.25, seed="x")
    got = {p["question"]: p["answer"] for p in pairs}
    assert got["这张图片的标题是什么?"] == "保养手册 第5章"
    assert got["图中的日期是什么?"] == "2024-03-18"
    assert got["图中的车型是什么?"] == "卡罗拉"
    assert got["车轮螺母的力矩是什么?"] == "103 N·m"
    assert got["火花塞的力矩是什么?"] == "25 N·m"
    assert got["图中的警告内容是什么?"] == "发动机热时不要打开散热器盖"
    negatives = [p for p in pairs if p.get("negative")]
    positives = len(pairs) - len(negatives)
    assert len(negatives) == positives // 3  # 25% of all pairs
    assert not any("力矩" in p["question"] or "日期" in p["question"] for p in negatives)


def test_numbers_read_with_full_width_separators_are_written_with_ascii_ones():
    lines = [
        _line(0, (0, "Odometer: 86，420 km"), (400, "Time: 12：30")),
        _line(40, (0, "Fuel economy: 7．8 L/100km"), (400, "Note: 左，右")),
    ]
    pairs = extract_pairs(lines, lang="en", negative_answer="not present", negative_ratio=0.0, seed="x")
    answers = {p["answer"] for p in pairs}
    assert {"86,420 km", "12:30", "7.8 L/100km", "左，右"} <= answers  # between digits only


def test_no_text_gives_no_pairs():
    # a page without text has nothing to ask about; a lone negative would only push the share up
    assert extract_pairs([], lang="en", negative_answer="not present", negative_ratio=0.2, seed="x") == []


def test_negative_ratio_is_honoured_over_all_images_not_per_image():
    """Pages with one or two fields got one negative each: 48% negatives for a 0.2 target."""
    from vlkd.teach.pairs import negatives_wanted

    for ratio in (0.05, 0.2, 0.33):
        positives = negatives = 0
        for i in range(400):
            p = 1 + i % 3
            positives += p
            negatives += negatives_wanted(p, ratio, f"image-{i}")
        assert abs(negatives / (positives + negatives) - ratio) < 0.03, ratio
    assert negatives_wanted(4, 0.2, "a") == 1  # whole counts need no draw
    assert negatives_wanted(0, 0.2, "a") == 0
    assert negatives_wanted(1, 0.2, "same") == negatives_wanted(1, 0.2, "same")  # stable per image
