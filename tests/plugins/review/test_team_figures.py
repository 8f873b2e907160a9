"""Agreement figures against values computed by hand, and the assignment's promises."""

import pytest

from vlkd.core.records import QARecord
from vlkd.plugins.review.team.agreement import Item, cohen_kappa, figures, krippendorff_alpha
from vlkd.plugins.review.team.assign import assign, risk_order

pytest.importorskip("krippendorff")

LONG = {"ap": "approved", "ed": "edited", "rj": "rejected"}


def pair(i, review="pending", answer=None, category="parts"):
    return QARecord(
        id=f"p{i}",
        image_id=f"img{i}",
        question=f"Q{i}?",
        answer=answer or f"A{i}",
        category=category,
        provenance={"plugin": "seeded"},
        review=review,
    )


def test_cohen_kappa_equals_the_hand_computed_value():
    a = ["ap", "ap", "ap", "ap", "ap", "ap", "rj", "rj", "rj", "ed"]
    b = ["ap", "ap", "ap", "ap", "ap", "rj", "rj", "rj", "ap", "ed"]
    # agreement on items 1-5, 7, 8, 10: po = 8/10; margins a = b = (ap 6, rj 3, ed 1):
    # pe = (6*6 + 3*3 + 1*1) / 100 = 0.46; kappa = (0.8 - 0.46) / (1 - 0.46) = 0.34 / 0.54
    assert cohen_kappa([LONG[x] for x in a], [LONG[x] for x in b]) == pytest.approx(0.34 / 0.54)
    assert cohen_kappa(["approved"] * 3, ["approved"] * 3) is None  # chance agreement certain: undefined


def test_cohen_kappa_of_a_textbook_example():
    # two readers, 50 items, yes/no: both yes 20, yes/no 5, no/yes 10, both no 15 (Wikipedia's
    # "Cohen's kappa" example): po = 0.7, pe = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(b, a) == pytest.approx(0.4)
    assert cohen_kappa(["yes", "no"], ["no", "yes"]) == pytest.approx(-1.0)  # complete disagreement
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError, match="3 labels against 2"):
        cohen_kappa(["yes"] * 3, ["yes"] * 2)


def test_krippendorff_alpha_equals_the_hand_computed_value():
    # units: (li ap, wang ap), (wang rj, chen rj), (li ap, chen rj), (li ed, wang ed, chen ap)
    rows = [
        ["approved", None, "approved", "edited"],
        ["approved", "rejected", None, "edited"],
        [None, "rejected", "rejected", "approved"],
    ]
    # coincidences: o(ap,ap)=2, o(rj,rj)=2, o(ed,ed)=1, o(ap,rj)=o(rj,ap)=1, o(ap,ed)=o(ed,ap)=1
    # n_ap=4, n_rj=3, n_ed=2, n=9; Do = 4/9; De = 2*(4*3 + 4*2 + 3*2) / (9*8) = 52/72
    # alpha = 1 - Do/De = 1 - 32/52 = 20/52
    assert krippendorff_alpha(rows) == pytest.approx(20 / 52)


def test_figures_per_category_per_reviewer_and_the_teacher():
    items = []
    # category parts, li and wang on 4 pairs
    statuses = [("ap", "ap"), ("ap", "rj"), ("ed", "ed"), ("rj", "rj")]
    for i, (x, y) in enumerate(statuses):
        base = pair(i)
        li = base.model_copy(update={"review": LONG[x], **({"answer": "Fixed"} if x == "ed" else {})})
        wang = base.model_copy(update={"review": LONG[y], **({"answer": "fixed."} if y == "ed" else {})})
        settled = li if x == y else base.model_copy(update={"review": "approved"})  # lead approved pair 1
        items.append(Item("parts", {"li": li, "wang": wang}, settled, base, adjudicated=x != y))
    # category manuals: one pair li alone, approved
    base = pair(9, category="manuals")
    items.append(Item("manuals", {"li": base.model_copy(update={"review": "approved"})}, None, base))
    got = figures(items)
    parts = got["per_category"]["parts"]
    assert parts["pairs"] == 4 and parts["observed"] == 0.75
    # kappa: po = 3/4; li (ap 2, ed 1, rj 1), wang (ap 1, rj 2, ed 1): pe = (2*1 + 1*1 + 1*2)/16 = 5/16
    assert parts["kappa"] == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))
    assert parts["edited"] == 1 and parts["edited_same"] == 1.0  # "Fixed" and "fixed." normalise alike
    assert got["per_category"]["manuals"] == {"pairs": 0, "observed": None, "edited": 0, "edited_same": None}
    assert got["per_reviewer"]["li"]["with_result"] == 1.0  # the lead approved as li did
    assert got["per_reviewer"]["wang"]["with_result"] == 0.75
    assert got["per_reviewer"]["li"]["decided"] == 5 and got["per_reviewer"]["li"]["observed"] == 0.75
    # the teacher: settled pairs 0 (approved), 1 (approved), 2 (edited "Fixed"), 3 (rejected): 2 of 4 kept
    assert got["teacher"] == {"settled": 4, "agreement": 0.5}


def test_alpha_is_used_when_more_than_two_reviewers_share_the_pairs():
    items = []
    for i, names in enumerate((("li", "wang"), ("wang", "chen"), ("li", "chen"))):
        base = pair(i)
        items.append(
            Item("parts", {n: base.model_copy(update={"review": "approved"}) for n in names}, None, base)
        )
    items[2].decisions["chen"] = items[2].decisions["chen"].model_copy(update={"review": "rejected"})
    block = figures(items)["overall"]
    assert "kappa" not in block and "alpha" in block and block["observed"] == pytest.approx(2 / 3)


def test_assignment_is_balanced_deterministic_and_overlaps_the_riskiest_first():
    images = [f"img{i}" for i in range(10)]
    first = assign(images, ["li", "wang", "chen"], overlap=2, overlap_share=0.3)
    assert first == assign(images, ["chen", "wang", "li"], overlap=2, overlap_share=0.3)  # deterministic
    assert [len(first[i]) for i in images] == [2, 2, 2] + [1] * 7  # ceil(0.3 * 10) riskiest, twice
    load = {n: sum(n in r for r in first.values()) for n in ("li", "wang", "chen")}
    assert max(load.values()) - min(load.values()) <= 1 and sum(load.values()) == 13
    assert risk_order([("a", 0), ("b", 2), ("c", 0), ("d", 1)]) == ["b", "d", "a", "c"]
    everyone = assign(images, ["li", "wang"], overlap=2)
    assert all(r == ("li", "wang") for r in everyone.values())
