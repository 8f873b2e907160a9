"""The cases a parts engineer checks first: identifiers, units, negation, currencies, signs, ANLS variants.

Written from the definitions in vlkd.metrics.scores (and, for ``anls_docvqa``, from the
official DocVQA script's definition), one test per case.
"""

import pytest

from vlkd.metrics import anls, anls_docvqa, exact_match, relaxed_accuracy
from vlkd.metrics.normalize import normalize_answer
from vlkd.metrics.summary import score_item


def test_a_wrong_part_number_is_wrong():
    # 33450 is within 5% of 34000: read as two numbers it would pass
    assert relaxed_accuracy("04465-33450", "04465-34000") == 0.0
    assert exact_match("04465-33450", "04465-34000") == 0.0
    assert relaxed_accuracy("04465-34000", "04465-34000") == 1.0
    assert relaxed_accuracy("4465-34000", "04465-34000") == 0.0  # the leading zero is part of it


def test_a_wrong_date_is_wrong():
    assert relaxed_accuracy("12/15/88", "12/15/89") == 0.0
    assert relaxed_accuracy("12/15/89", "12/15/89") == 1.0
    assert relaxed_accuracy("2018-06-01", "2018-06-02") == 0.0


def test_a_wrong_phone_number_is_wrong():
    assert relaxed_accuracy("400-830-8887", "400-830-8888") == 0.0
    assert relaxed_accuracy("13800138001", "13800138000") == 0.0  # one bare long number
    assert relaxed_accuracy("+86 10 6552 9989", "+86 10 6552 9988") == 0.0
    assert relaxed_accuracy("400-830-8888", "400-830-8888") == 1.0


def test_a_wrong_year_or_year_range_is_wrong():
    assert relaxed_accuracy("2018-2021", "2018-2020") == 0.0
    assert relaxed_accuracy("2018/2021", "2018/2020") == 0.0
    assert relaxed_accuracy("1990", "1989") == 0.0  # a bare year is not a measurement
    assert relaxed_accuracy("2018-2020", "2018-2020") == 1.0


def test_a_range_is_compared_bound_for_bound():
    assert relaxed_accuracy("30-36 N·m", "30-35 N·m") == 0.0
    assert relaxed_accuracy("30 to 35 Nm", "30-35 N·m") == 1.0


def test_one_measured_number_keeps_its_five_percent():
    assert relaxed_accuracy("36.7 N·m", "35 N·m") == 1.0
    assert relaxed_accuracy("1,250 rpm", "1,200 rpm") == 1.0
    assert relaxed_accuracy("12,500", "12,000") == 1.0  # a thousands separator means a measurement


def test_units_match_regardless_of_case_and_spelling():
    for spelling in ("35NM", "35 N·m", "35 Nm", "35 N.m", "35 nm", "35牛·米"):
        assert relaxed_accuracy(spelling, "35 N·m") == 1.0, spelling
        assert exact_match(spelling, "35 N·m") == 1.0, spelling
    assert exact_match("1200 MM", "1200 mm") == 1.0
    assert relaxed_accuracy("1200 MM", "1200 mm") == 1.0
    assert exact_match("35 kg", "35 N·m") == 0.0


def test_negation_is_not_ignored():
    for said in ("not 35", "It is not 35 N·m", "不是35", "不是35 N·m", "没有35"):
        assert relaxed_accuracy(said, "35 N·m" if "N" in said else "35") == 0.0, said
        assert exact_match(said, "35") == 0.0, said
    assert relaxed_accuracy("35", "35") == 1.0


def test_currencies_are_numbers():
    assert exact_match("¥120", "120元") == 1.0
    assert relaxed_accuracy("¥120", "120元") == 1.0
    assert exact_match("$1,200", "$1200") == 1.0
    assert relaxed_accuracy("$1,200", "$1200") == 1.0
    assert exact_match("RMB 120", "¥120") == 1.0
    assert exact_match("$120", "¥120") == 0.0  # another currency
    assert relaxed_accuracy("120", "¥120") == 0.0  # a bare number is not a price


def test_exact_match_keeps_the_minus_sign():
    assert exact_match("-40°C", "40°C") == 0.0
    assert exact_match("−40℃", "-40°C") == 1.0  # Unicode minus and the ℃ sign
    assert normalize_answer("-40°C") == "-40°c"
    assert normalize_answer("P-0301") == "p0301"  # a hyphen inside a code is not a sign


def test_exact_match_keeps_the_percent_sign():
    assert exact_match("50%", "50") == 0.0
    assert exact_match("50 %", "50%") == 1.0
    assert normalize_answer("50%") == "50%"


def test_anls_keeps_the_papers_threshold():
    # NL = 0.5 exactly: the paper (NL >= 0.5 scores 0) gives 0
    assert anls("ab", "ax") == 0.0
    # vlkd's normalisation: NFKC (full-width to half-width) and case folding
    assert anls("ＡＢＳ", "abs") == 1.0
    assert anls("STRASSE", "straße") == 1.0  # case folding: ß folds to ss


def test_anls_docvqa_reproduces_the_official_script():
    # NL = 0.5 exactly: the script zeroes only 1 - NL < 0.5, so it keeps 0.5
    assert anls_docvqa("ab", "ax") == 0.5
    assert anls_docvqa("abc", "axy") == 0.0  # 1 - 2/3 < 0.5
    assert anls_docvqa("  Brake  PAD ", "brake pad") == 1.0  # strip, lower, whitespace runs collapsed
    assert anls_docvqa("ＡＢＳ", "abs") == 0.0  # no NFKC: full-width letters are other letters
    # the length is the longer string as given, before whitespace is collapsed
    assert anls_docvqa("ab  cd", "abcd") == pytest.approx(1 - 1 / 6)
    assert anls_docvqa("", "") == 1.0
    assert anls_docvqa("abcd", ["zzzz", "abcx"]) == 0.75  # best (smallest NL) over the references


def test_score_item_reports_both_anls_variants():
    scores = score_item("ab", "ax")
    assert scores["anls"] == 0.0 and scores["anls_docvqa"] == 0.5
