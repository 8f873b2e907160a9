"""Reading teacher answers: the seed's CSV contract done right, and structured JSON."""

from vlkd.teach.parsing import parse_csv, parse_json


def qa(parsed):
    return [(p["question"], p["answer"]) for p in parsed.pairs]


def test_quoted_comma_inside_answer_survives():
    # the seed's row.split(',', 1) is fine here, but its csv re-write quoted the quotes; we keep the text
    got = parse_csv('"拧紧力矩是多少?","25 N·m, 分两次拧紧"\n"零件号?","A-1"')
    assert qa(got) == [("拧紧力矩是多少?", "25 N·m, 分两次拧紧"), ("零件号?", "A-1")]


def test_fences_and_chatter_are_ignored():
    text = '好的,以下是结果:\n```csv\n"问题","答案"\n"Q1?","A1"\n```\n希望有帮助!'
    assert qa(parse_csv(text)) == [("Q1?", "A1")]


def test_several_fenced_blocks_are_all_read():
    text = '```csv\n"Q1?","A1"\n```\nmore:\n```\n"Q2?","A2"\n```'
    assert qa(parse_csv(text)) == [("Q1?", "A1"), ("Q2?", "A2")]


def test_triple_quotes_as_the_seed_wrote_them():
    text = '"""组织名称是什么?""","""某汽车公司"""\n"He said ""hi""?","yes ""quoted"""'
    assert qa(parse_csv(text)) == [("组织名称是什么?", "某汽车公司"), ('He said "hi"?', 'yes "quoted"')]


def test_header_rows_in_any_language_are_skipped():
    for header in (
        '"问题","答案"',
        "Question,Answer",
        "question, answer",
        "Pregunta,Respuesta",
        "질문,답변",
        "Frage,Antwort",
        "問題,回答",
        "Q,A",
    ):
        assert qa(parse_csv(f'{header}\n"Q?","A"')) == [("Q?", "A")], header


def test_blank_lines_and_whitespace():
    assert qa(parse_csv('\n\n  "Q1?", "A1"\n\n\n"Q2?","A2"\n  \n')) == [("Q1?", "A1"), ("Q2?", "A2")]


def test_ragged_rows():
    text = "\n".join(
        [
            "图中车型是什么?,卡罗拉,E210",  # unquoted comma in the answer: joined back
            "扭矩, 单位是什么?,25,N·m",  # a comma in the question: cut after the question mark
            "img_001.png,零件号是什么?,A-1",  # the seed's output.csv layout
            "只有一个字段",  # unreadable: dropped with a reason
            "油量是多少?3.5 L",  # one field but a question mark: split there
        ]
    )
    got = parse_csv(text)
    assert qa(got) == [
        ("图中车型是什么?", "卡罗拉,E210"),
        ("扭矩,单位是什么?", "25,N·m"),
        ("零件号是什么?", "A-1"),
        ("油量是多少?", "3.5 L"),
    ]
    assert got.dropped == [
        {"row": 4, "reason": "one field, expected question,answer", "text": "只有一个字段"}
    ]


def test_unparsable_rows_dropped_with_reasons_rest_kept():
    got = parse_csv('"Q1?",""\n"","A"\n"Q1?","A1"\n"Q1?","again"\n"Q2?","A2"')
    assert qa(got) == [("Q1?", "A1"), ("Q2?", "A2")]
    assert [d["reason"] for d in got.dropped] == ["empty answer", "empty question", "repeated question"]


def test_no_pairs_at_all():
    got = parse_csv("抱歉,我无法以CSV格式回答。")
    assert got.pairs == [] and got.dropped


def test_json_structured_and_text_forms():
    assert qa(parse_json(None, {"pairs": [{"question": "Q?", "answer": "A"}]})) == [("Q?", "A")]
    text = 'Here you go:\n```json\n{"pairs": [{"问题": "Q1?", "答案": "A1"}, ["Q2?", "A2"], {"question": "Q3?"}]}\n```'
    got = parse_json(text)
    assert qa(got) == [("Q1?", "A1"), ("Q2?", "A2")]
    assert got.dropped[0]["reason"] == "item without question and answer"
    assert qa(parse_json('[{"q": "Q?", "a": "A"}]')) == [("Q?", "A")]


def test_json_that_is_not_json():
    got = parse_json("{not json")
    assert got.pairs == [] and got.dropped[0]["reason"] == "not JSON"
    assert parse_json('{"answer": 1}').dropped[0]["reason"] == "JSON without a 'pairs' list"
