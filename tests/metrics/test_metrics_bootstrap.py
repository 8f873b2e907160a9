import pytest

from vlkd.metrics.bootstrap import bootstrap_ci, paired_bootstrap_delta, percentile
from vlkd.metrics.summary import score_item, summarize


def _mean(sums):
    return {"mean": sums[0] / sums[1]}


def test_percentile_interpolates():
    assert percentile([0.0, 1.0, 2.0, 3.0], 0.5) == 1.5
    assert percentile([5.0], 0.975) == 5.0


def test_bootstrap_is_seeded_and_brackets_the_mean():
    vectors = [[float(i % 2), 1.0] for i in range(100)]  # mean 0.5
    a = bootstrap_ci(vectors, _mean, samples=500, seed=7)
    b = bootstrap_ci(vectors, _mean, samples=500, seed=7)
    assert a == b
    low, high = a["mean"]
    assert low < 0.5 < high
    # the normal approximation: 1.96 * sqrt(.25/100) ~= 0.098
    assert 0.06 < 0.5 - low < 0.14 and 0.06 < high - 0.5 < 0.14
    assert bootstrap_ci(vectors, _mean, samples=500, seed=8) != a


def test_constant_data_has_a_zero_width_interval():
    assert bootstrap_ci([[1.0, 1.0]] * 10, _mean, samples=50) == {"mean": (1.0, 1.0)}


def test_paired_delta_is_tight_when_every_item_gains():
    base = [[0.0, 1.0]] * 30 + [[1.0, 1.0]] * 30
    tuned = [[1.0, 1.0]] * 60
    (low, high) = paired_bootstrap_delta(base, tuned, _mean, samples=300)["mean"]
    assert 0.3 < low <= 0.5 <= high < 0.7
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap_delta(base, tuned[:-1], _mean)


def test_summarize_per_category_and_delta_hand_computed():
    rows = [
        ("a", "part", "刹车片", "刹车片", "刹车盘"),
        ("b", "part", "机油", "机油", "机油"),
        ("c", "manual", "35 N·m", "35 Nm", "50 Nm"),
        ("d", "manual", "不存在", "不存在", "3 L"),
    ]
    recs = []
    for item_id, cat, ref, tuned, base in rows:
        neg = ref == "不存在"
        recs.append(
            {"system": "base", "id": item_id, "category": cat, "scores": score_item(base, ref, negative=neg)}
        )
        recs.append(
            {
                "system": "tuned",
                "id": item_id,
                "category": cat,
                "scores": score_item(tuned, ref, negative=neg),
            }
        )
    m = summarize(recs, systems=["base", "tuned"], samples=100)
    assert m["categories"] == ["manual", "part"]
    assert m["results"]["base"]["overall"]["exact_match"]["value"] == 0.25
    assert m["results"]["tuned"]["overall"]["exact_match"]["value"] == 1.0  # "·" is punctuation
    assert m["results"]["tuned"]["categories"]["manual"]["relaxed_accuracy"] == {
        "value": 1.0,
        "ci": [1.0, 1.0],
        "n": 1,
    }
    assert m["results"]["base"]["categories"]["part"]["anls"]["value"] == pytest.approx(
        (2 / 3 + 1) / 2, abs=1e-6
    )
    d = m["deltas"]["base->tuned"]
    assert d["overall"]["exact_match"]["value"] == 0.75
    assert d["categories"]["manual"]["exact_match"]["value"] == 1.0
    assert d["overall"]["n"] == 4
    assert m["results"]["base"]["overall"]["not_present_precision"]["value"] is None  # never said it
    assert m["results"]["base"]["overall"]["not_present_f1"]["value"] == 0.0
