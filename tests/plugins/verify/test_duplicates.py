"""``duplicates``: a question asked twice on one image, one answer on most images."""

from __future__ import annotations

from vlkd.testing.verify import flags_of, make_page, pairs_of, write_pairs


def _setup(tmp_path, n_images=5):
    folder = tmp_path / "pages"
    rows = []
    for i in range(n_images):
        make_page(folder / f"p{i}.png", [f"Page {i}", f"Part number: 90915-{i:05d}"])
        rows.append((f"p{i}.png", "What is the part number?", f"90915-{i:05d}"))
        rows.append((f"p{i}.png", "What does the page show?", "Brake pads"))  # one answer everywhere
        rows.append((f"p{i}.png", "What is the warranty date?", "不存在"))  # negatives are no boilerplate
    rows.append(("p0.png", "what is the  part number", "90915-99999"))  # the same question again
    csv = write_pairs(tmp_path / "pairs.csv", rows)
    return {
        "ingest": {"plugin": "files", "inputs": str(folder), "workers": 1},
        "teach": {"plugin": "annotations", "path": str(csv)},
    }


def test_duplicate_and_boilerplate_are_flagged_and_nothing_changes(tmp_path, run):
    sections = _setup(tmp_path)
    manifest, rd = run({**sections, "verify": [{"plugin": "duplicates"}]})
    taught = {p["id"]: p for p in pairs_of(rd, "teach")}
    verified = pairs_of(rd)
    assert len(verified) == len(taught)
    for p in verified:  # questions and answers exactly as taught
        assert (p["question"], p["answer"]) == (taught[p["id"]]["question"], taught[p["id"]]["answer"])
    by_q = {}
    for p in verified:
        by_q.setdefault(p["question"], []).append(p)
    assert all(flags_of(p) == {"boilerplate"} for p in by_q["What does the page show?"])
    assert all(not flags_of(p) for p in by_q["What is the warranty date?"])
    assert all(not flags_of(p) for p in by_q["What is the part number?"])
    (again,) = by_q["what is the  part number"]
    assert flags_of(again) == {"duplicate"}
    assert "answered '90915-00000' there" in again["flags"][0]["reason"]
    assert again["flags"][0]["check"] == "duplicates"
    facts = manifest["stages"]["verify"]["facts"]
    assert facts["flags"] == {"duplicates": {"boilerplate": 5, "duplicate": 1}}
    assert facts["pairs_in"] == facts["pairs_out"] == 16


def test_drop_removes_only_the_named_flag_and_counts_it(tmp_path, run):
    sections = _setup(tmp_path)
    manifest, rd = run({**sections, "verify": [{"plugin": "duplicates", "drop": ["duplicate"]}]})
    verified = pairs_of(rd)
    assert len(verified) == 15
    assert not any("duplicate" in flags_of(p) for p in verified)
    assert sum("boilerplate" in flags_of(p) for p in verified) == 5
    facts = manifest["stages"]["verify"]["facts"]
    assert facts["dropped"] == {"duplicate": 1}
    assert facts["pairs_out"] == 15


def test_drop_of_a_flag_the_check_does_not_raise_is_a_recipe_error(tmp_path, run):
    import pytest

    from vlkd.core.errors import RecipeError

    sections = _setup(tmp_path, 1)
    with pytest.raises(RecipeError, match=r"verify\.0\.drop\.0"):
        run({**sections, "verify": [{"plugin": "duplicates", "drop": ["ungrounded"]}]})


def test_few_images_are_never_boilerplate(tmp_path, run):
    sections = _setup(tmp_path, 3)
    _, rd = run({**sections, "verify": [{"plugin": "duplicates"}]})
    assert not any("boilerplate" in flags_of(p) for p in pairs_of(rd))


def test_drop_takes_one_flag_or_a_list(tmp_path, run):
    sections = _setup(tmp_path)
    manifest, _ = run({**sections, "verify": [{"plugin": "duplicates", "drop": "boilerplate"}]})
    assert manifest["stages"]["verify"]["facts"]["dropped"] == {"boilerplate": 5}
