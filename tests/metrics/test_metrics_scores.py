import pytest

from vlkd.metrics import anls, levenshtein, relaxed_accuracy
from vlkd.metrics.quantities import Quantity, parse_quantities


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("刹车片", "刹车盘", 1), ("flaw", "lawn", 2)],
)
def test_levenshtein(a, b, d):
    assert levenshtein(a, b) == d == levenshtein(b, a)


def test_anls_docvqa_definition_edge_cases():
    assert anls("", "") == 1.0  # both empty: identical
    assert anls("", "abc") == 0.0
    assert anls("abc", "") == 0.0
    assert anls("Hello", "hello") == 1.0  # case folded
    assert anls("abcd", "abxd") == pytest.approx(0.75)  # NL = 1/4
    # NL exactly 0.5 is cut to 0 (threshold: NL >= tau scores 0)
    assert anls("ab", "ax") == 0.0
    # NL = 2/5 = 0.4 < 0.5: 0.6
    assert anls("abcde", "abxye") == pytest.approx(0.6)
    # best over references
    assert anls("abcd", ["zzzz", "abcd"]) == 1.0
    # NL = 1/3 on a Chinese answer
    assert anls("刹车片", "刹车盘") == pytest.approx(2 / 3)
    assert anls("abc", "abd", tau=0.3) == 0.0  # 1/3 >= 0.3


def test_anls_needs_a_reference():
    with pytest.raises(ValueError, match="at least one reference"):
        anls("x", [])


def test_relaxed_accuracy_numbers_within_five_percent():
    assert relaxed_accuracy("36.7", "35") == 1.0  # 4.9%
    assert relaxed_accuracy("36.8", "35") == 0.0  # 5.1%
    assert relaxed_accuracy("0", "0") == 1.0
    assert relaxed_accuracy("0.01", "0") == 0.0
    assert relaxed_accuracy("1,200 rpm", "1200 RPM") == 1.0
    assert relaxed_accuracy("扭矩为35牛·米", "35 N·m") == 1.0  # the quantity inside a sentence


def test_relaxed_accuracy_keeps_units_apart():
    assert relaxed_accuracy("35 N·m", "35 Nm") == 1.0
    assert relaxed_accuracy("35 N.m", "35 Nm") == 1.0
    assert relaxed_accuracy("35 kg", "35 N·m") == 0.0
    assert relaxed_accuracy("35", "35 N·m") == 0.0  # a bare number is not a torque
    assert relaxed_accuracy("35 mΩ", "35 MΩ") == 0.0  # milliohm vs megaohm keep their case
    assert relaxed_accuracy("35 KG", "35 kg") == 1.0
    assert relaxed_accuracy("3.5 升", "3.5 L") == 1.0


def test_relaxed_accuracy_ranges_and_not_applicable():
    assert relaxed_accuracy("30-35 N·m", "30 to 35 Nm") == 1.0
    assert relaxed_accuracy("35 N·m", "30-35 N·m") == 0.0  # one number for a range
    assert relaxed_accuracy("anything", "M8") is None  # a name, not a quantity
    assert relaxed_accuracy("12", "检查12V电池") is None  # a sentence, not a quantity answer
    assert relaxed_accuracy("不存在", "35 N·m") == 0.0


def test_parse_quantities_shares_a_range_unit():
    assert parse_quantities("30-35 N·m", whole=True) == [
        Quantity(30, "nm", "30", joined=True),
        Quantity(35, "nm", "35", joined=True),
    ]
    assert parse_quantities("-5 °C", whole=True) == [Quantity(-5, "°c", "-5")]
    assert parse_quantities("¥1,200", whole=True) == [Quantity(1200, "cny", "1,200")]
    assert parse_quantities("P0301 code", whole=False) == []
