"""Prompt files: the seed's prompt by default, packs per category, variables, errors."""

from pathlib import Path

import pytest

from vlkd.core.errors import StageError
from vlkd.core.records import ImageRecord
from vlkd.plugins.teach.prompts import automotive_pack
from vlkd.teach.options import TeacherOptions
from vlkd.teach.prompts import PromptSet

PACK = automotive_pack()

SEED = Path("/work/shared/seed/000_5636e7f4f0f5fa35.txt")


def seed_prompt() -> str:
    # the system prompt of the seed article, as its generate_question_answer_pairs() sends it
    lines = SEED.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if "# 角色: 视觉语言模型数据集生成器" in line)
    end = next(i for i in range(start, len(lines)) if "便于后处理" in lines[i])
    block = lines[start : end + 1]
    block[0] = block[0].split('"""', 1)[1]
    return "\n".join(block) + "\n"


def image(category=None, **meta):
    return ImageRecord(id="abc", path="/x/img_1.png", width=640, height=480, category=category, metadata=meta)


def opts(**kw):
    return TeacherOptions(plugin="t", **kw)


@pytest.mark.skipif(not SEED.exists(), reason="seed article not available")
def test_default_is_the_seed_prompt_word_for_word():
    system, user, _ = PromptSet(opts(), PACK).render(image())
    assert system == seed_prompt()
    assert user == ""


def test_negative_answer_and_ratio_go_into_the_prompt():
    system, _, _ = PromptSet(opts(negative_answer="N/A", negative_ratio=0.25), PACK).render(image())
    assert '使用"N/A"作为答案' in system and "约25%" in system and '"不存在"' not in system


def test_english_and_json_output():
    system, _, _ = PromptSet(opts(prompt={"language": "en"}, output="json"), PACK).render(image())
    assert system.startswith("# Role: vision-language dataset generator")
    assert '{"pairs": [{"question"' in system


def test_category_packs_and_aliases():
    ps = PromptSet(opts(), PACK)
    assert "零部件" in ps.render(image("part_recognition"))[0]
    assert "警告灯" in ps.render(image("warning_lights"))[0]
    assert "维修手册" in ps.render(image("manual_parsing"))[0]
    assert ps.render(image("other"))[0] == ps.render(image())[0]
    # different templates, different hashes (provenance)
    assert ps.render(image("part_recognition"))[2] != ps.render(image())[2]
    assert (
        PromptSet(opts(prompt={"by_category": False}), PACK).render(image("part_recognition"))[0]
        == ps.render(image())[0]
    )


def test_user_files_with_variables(tmp_path):
    system = tmp_path / "sys.txt"
    system.write_text(
        "品牌 ${meta.brand} ${meta.missing}| ${shop} | ${image_name} ${width}x${height} | 50$$\n"
        "${output_instructions}",
        encoding="utf-8",
    )
    cat = tmp_path / "cat.txt"
    cat.write_text("category prompt ${category}", encoding="utf-8")
    user = tmp_path / "user.txt"
    user.write_text("请看图 ${category}", encoding="utf-8")
    ps = PromptSet(
        opts(
            prompt={
                "system": system,
                "user": user,
                "variables": {"shop": "4S店"},
                "categories": {"mine": cat},
            }
        ),
        PACK,
    )
    s, u, _ = ps.render(image(brand="Toyota"))
    assert s.startswith("品牌 Toyota | 4S店 | img_1.png 640x480 | 50$\n# 输出格式")
    assert u == "请看图 "
    assert ps.render(image("mine"))[0] == "category prompt mine"
    assert system in ps.files() and cat in ps.files()


def test_unknown_variable_names_file_and_known_ones(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("hello ${brnad}", encoding="utf-8")
    with pytest.raises(StageError, match=r"bad.txt: unknown variable \$\{brnad\}; known: .*negative_answer"):
        PromptSet(opts(prompt={"system": bad}), PACK)
    lone = tmp_path / "lone.txt"
    lone.write_text("costs $5", encoding="utf-8")
    with pytest.raises(StageError, match=r"lone.txt: a '\$' that starts no"):
        PromptSet(opts(prompt={"system": lone}), PACK)


def test_ocr_text_is_added_to_the_user_text():
    _, user, _ = PromptSet(opts(), PACK).render(image(), {"ocr_text": "零件号: A-1"})
    assert user.startswith("以下是OCR") and user.endswith("零件号: A-1\n")


def test_a_teacher_without_a_pack_is_told_how_to_get_one():
    with pytest.raises(StageError, match=r"teacher 't' has no prompt pack.*automotive_pack\(\)"):
        PromptSet(opts(), None)


def test_the_core_knows_no_automotive_words():
    core = Path(__file__).resolve().parents[3] / "vlkd" / "core"
    text = "".join(p.read_text(encoding="utf-8") for p in core.rglob("*.py"))
    # names in docs are fine; the data (category tuples, aliases, paths into plugins/) is not
    for word in ('"part_recognition"', '"warning_lights"', '"无法识别"', '"plugins" / "teach"', "parents[2]"):
        assert word not in text, word
