from vlkd.metrics import exact_match, normalize_answer


def test_case_whitespace_and_full_width_fold_to_one_form():
    assert normalize_answer("  Brake   PAD ") == "brake pad"
    # full-width letters, digits and space (NFKC) become half-width
    assert normalize_answer("ＡＢＳ　１２３") == "abs 123"
    assert normalize_answer("℃") == "°c"


def test_chinese_and_ascii_punctuation_is_removed():
    assert normalize_answer("刹车片。") == "刹车片"
    assert normalize_answer("《维修手册》：第3章！") == "维修手册第3章"
    assert normalize_answer("“机油滤清器”，") == "机油滤清器"
    assert normalize_answer("Hello, world!") == "hello world"


def test_spaces_next_to_chinese_are_dropped_but_decimal_points_kept():
    assert normalize_answer("刹车 片") == "刹车片"
    assert normalize_answer("发动机 ABS 模块") == "发动机abs模块"
    assert normalize_answer("3.5 L") == "3.5 l"
    assert normalize_answer("1,200") == "1200"  # thousands separator goes
    assert normalize_answer("end.") == "end"


def test_exact_match_uses_the_normalised_form_and_best_reference():
    assert exact_match("刹车片。", "刹车片") == 1.0
    assert exact_match("ＡＢＳ", "abs") == 1.0
    assert exact_match("ABS pump", ["abs", "ABS  Pump"]) == 1.0
    assert exact_match("3.5", "35") == 0.0  # a decimal point is not punctuation
    assert exact_match("", "x") == 0.0
