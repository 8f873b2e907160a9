from collections import defaultdict

import pytest

from vlkd.core.errors import RecipeError, StageError
from vlkd.core.jsonl import read_jsonl
from vlkd.plugins.split.by_image import assign_split
from vlkd.testing.fake_run import FakeRun, make_images, make_pairs

SPLIT = {"split": {"plugin": "by_image", "train": 0.6, "val": 0.2, "test": 0.2, "seed": 7}}


def splits_by_image(run):
    out = defaultdict(set)
    for pair in read_jsonl(run.run_dir / "split" / "pairs.jsonl"):
        out[pair["image_id"]].add(pair["split"])
    return out


def test_every_image_in_one_split_and_all_splits_used(fake_run):
    run = fake_run(SPLIT, n_images=40, per_image=3)
    manifest = run.run()
    by_image = splits_by_image(run)
    assert len(by_image) == 40
    assert all(len(s) == 1 for s in by_image.values())  # no image's pairs in two splits
    used = {next(iter(s)) for s in by_image.values()}
    assert used == {"train", "val", "test"}
    facts = manifest["stages"]["split"]["facts"]
    assert sum(facts["images"].values()) == 40
    assert sum(facts["pairs"].values()) == 120
    assert set(facts["images_per_category"]) == {"part_recognition", "manual_parsing"}


def test_adding_images_never_moves_existing_ones(tmp_path):
    images = make_images(tmp_path / "images", 60)
    first = FakeRun(tmp_path / "a", SPLIT, images[:30], make_pairs(images[:30]))
    first.run()
    second = FakeRun(tmp_path / "b", SPLIT, images, make_pairs(images))
    second.run()
    before, after = splits_by_image(first), splits_by_image(second)
    assert all(after[i] == s for i, s in before.items())
    assert len(after) == 60


def test_seed_changes_assignment_and_same_seed_reproduces():
    ids = [f"{i:064x}" for i in range(200)]
    a = [assign_split(1, i, 0.8, 0.1) for i in ids]
    assert a == [assign_split(1, i, 0.8, 0.1) for i in ids]
    assert a != [assign_split(2, i, 0.8, 0.1) for i in ids]
    share = a.count("train") / len(a)
    assert 0.7 < share < 0.9


def test_fractions_must_sum_to_one(fake_run):
    with pytest.raises(RecipeError, match=r"train \+ val \+ test must be 1, got 1\.1"):
        fake_run({"split": {"plugin": "by_image", "train": 0.8, "val": 0.2, "test": 0.1}})


def test_pair_without_image_id_is_named(tmp_path):
    images = make_images(tmp_path / "images", 2)
    pairs = make_pairs(images)
    del pairs[2]["image_id"]
    run = FakeRun(tmp_path, SPLIT, images, pairs)
    with pytest.raises(
        StageError, match=r"pairs\.jsonl:3: not a question/answer record \(image_id: Field required\)"
    ):
        run.run()


def test_a_category_without_test_images_is_warned_about_whatever_its_size(tmp_path, capsys):
    images = make_images(tmp_path / "images", 6)
    images[0]["category"] = "tiny_category"  # one image: lands in train (or val) with these seeds
    split = {"split": {"plugin": "by_image", "train": 0.5, "val": 0.0, "test": 0.5, "seed": 7}}
    from vlkd.plugins.split.by_image import assign_split as place

    assert place(7, images[0]["id"], 0.5, 0.0) == "train"
    run = FakeRun(tmp_path, split, images, make_pairs(images))
    manifest = run.run()
    assert "tiny_category" in manifest["stages"]["split"]["facts"]["categories_without_test"]
    said = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "category 'tiny_category' has 1 image and none in test; it will not be evaluated" in said
