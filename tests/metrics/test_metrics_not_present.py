import pytest

from vlkd.metrics import NotPresentCounts, is_not_present
from vlkd.metrics.summary import score_item, summarize


def test_not_present_spellings():
    assert is_not_present("不存在")
    assert is_not_present("不存在。")
    assert is_not_present("图中信息不存在")
    assert is_not_present("答案：不存在。")
    assert not is_not_present("该零件不存在裂纹")  # "the part has no cracks" is an answer
    assert is_not_present("Not present")
    assert not is_not_present("存在裂纹，需要更换刹车片，此外左侧也不存在异常磨损情况")  # long answer
    assert not is_not_present("")
    assert is_not_present("N/A", not_present="N/A")


def test_counts_precision_recall_f1_hand_computed():
    c = NotPresentCounts(tp=2, fp=1, fn=3, tn=10)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 5)
    assert c.f1 == pytest.approx(4 / 8)  # 2TP / (2TP + FP + FN)
    never = NotPresentCounts(tp=0, fp=0, fn=4)
    assert never.precision is None and never.recall == 0 and never.f1 == 0
    assert NotPresentCounts(tn=5).f1 is None


def _records(system, answers, refs, negatives):
    return [
        {"system": system, "id": str(i), "category": "c", "scores": score_item(a, r, negative=n)}
        for i, (a, r, n) in enumerate(zip(answers, refs, negatives, strict=True))
    ]


def test_a_student_that_always_says_not_present_does_not_look_good():
    refs = ["刹车片", "35 N·m", "机油滤清器", "左前轮", "不存在"] * 4
    negatives = [r == "不存在" for r in refs]
    lazy = ["不存在"] * len(refs)
    decent = [r if i % 5 != 1 else "40 N·m" for i, r in enumerate(refs)]  # wrong torque, right otherwise
    recs = _records("lazy", lazy, refs, negatives) + _records("decent", decent, refs, negatives)
    m = summarize(recs, systems=["lazy", "decent"], deltas=[("lazy", "decent")], samples=200)
    lazy_m, decent_m = m["results"]["lazy"]["overall"], m["results"]["decent"]["overall"]
    # perfect recall, but precision is just the share of negatives (4 of 20)
    assert lazy_m["not_present_recall"]["value"] == 1.0
    assert lazy_m["not_present_precision"]["value"] == pytest.approx(0.2)
    assert lazy_m["not_present_f1"]["value"] == pytest.approx(2 * 4 / (2 * 4 + 16))
    assert lazy_m["exact_match"]["value"] == pytest.approx(0.2)
    assert lazy_m["relaxed_accuracy"]["value"] == 0.0
    assert decent_m["not_present_f1"]["value"] == 1.0
    assert decent_m["exact_match"]["value"] == pytest.approx(0.8)
    assert decent_m["not_present_f1"]["value"] > lazy_m["not_present_f1"]["value"]
    assert decent_m["exact_match"]["value"] > lazy_m["exact_match"]["value"]
