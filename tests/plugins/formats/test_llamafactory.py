import json
import shutil

import pytest

from vlkd.core.errors import StageError
from vlkd.core.jsonl import read_jsonl, write_jsonl_atomic
from vlkd.llamafactory.families import image_tokens as lf_image_tokens
from vlkd.students.qwen2_vl import Qwen2VL

SPLIT = {"plugin": "by_image", "train": 0.5, "val": 0.25, "test": 0.25, "seed": 3}


def _dataset(run):
    return run.run_dir / "format" / "dataset"


def test_export_follows_the_contract(fake_run):
    run = fake_run({"split": SPLIT, "format": {"plugin": "llamafactory"}}, n_images=12, per_image=3)
    run.run()
    ds = _dataset(run)
    descriptor = json.loads((ds / "vlkd_dataset.json").read_text())
    info = json.loads((ds / "dataset_info.json").read_text())
    assert descriptor["format"] == "llamafactory"
    assert descriptor["dataset_info"] == "dataset_info.json"
    assert descriptor["media_dir"] == str(ds.resolve())
    assert descriptor["pairs"] == 36 and descriptor["images"] == 12
    assert set(info) == {f"vlkd_{s}" for s in descriptor["splits"]}
    for split, file in descriptor["splits"].items():
        entry = info[f"vlkd_{split}"]
        assert entry["file_name"] == file and entry["formatting"] == "sharegpt"
        assert entry["columns"] == {"messages": "messages", "images": "images"}
        assert entry["tags"]["user_tag"] == "user" and entry["tags"]["assistant_tag"] == "assistant"
        for sample in json.loads((ds / file).read_text()):
            # each image once in images, its tag once, in the first user turn; 3 turns per image
            assert len(sample["images"]) == 1
            contents = [m["content"] for m in sample["messages"]]
            assert contents[0].startswith("<image>") and sum(c.count("<image>") for c in contents) == 1
            assert [m["role"] for m in sample["messages"]] == ["user", "assistant"] * 3
            assert not sample["images"][0].startswith("/")  # relative to the dataset directory
            assert (ds / sample["images"][0]).is_file()


def test_llamafactory_loads_the_export_with_qwen2_vl(fake_run, lf_load):
    run = fake_run(
        {"split": SPLIT, "format": {"plugin": "llamafactory", "system": "You read car manuals."}},
        n_images=8,
        per_image=2,
        size=(300, 200),
    )
    run.run()
    ds = _dataset(run)
    train = json.loads((ds / "train.json").read_text())
    module, tokenizer = lf_load(ds, train="vlkd_train", eval="vlkd_val,vlkd_test")
    assert len(module["train_dataset"]) == len(train)
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for sample, example in zip(train, module["train_dataset"], strict=True):
        # the image is shown once: its pads appear once, as many as vlkd predicts
        assert example["input_ids"].count(pad) == lf_image_tokens(Qwen2VL(), 300, 200, 32 * 32, 768 * 768)
        labels = tokenizer.decode([t for t in example["labels"] if t != -100])
        for message in sample["messages"]:
            if message["role"] == "assistant":
                assert message["content"] in labels
        assert "You read car manuals." in tokenizer.decode(example["input_ids"])
    assert len(module["eval_dataset"]) > 0


def test_per_pair_and_copied_images_load_from_a_moved_directory(fake_run, lf_load, tmp_path):
    run = fake_run(
        {
            "format": {
                "plugin": "llamafactory",
                "grouping": "per_pair",
                "image_paths": "copy",
                "image_tag": "after",
            }
        },
        n_images=3,
        per_image=2,
    )
    run.run()
    moved = tmp_path / "elsewhere"
    shutil.copytree(_dataset(run), moved)
    shutil.rmtree(run.tmp_path / "images")  # the originals are gone: the copy must suffice
    train = json.loads((moved / "train.json").read_text())
    assert len(train) == 6
    assert all(s["messages"][0]["content"].endswith("<image>") for s in train)
    module, _ = lf_load(moved)
    assert len(module["train_dataset"]) == 6


def test_preflight_failure_stops_the_stage_and_fix_repairs(fake_run):
    run = fake_run(
        {"format": {"plugin": "llamafactory", "cutoff_len": 60}}, n_images=2, per_image=3, size=(300, 200)
    )
    with pytest.raises(StageError) as err:
        run.run()
    message = str(err.value)
    assert "pre-flight check failed" in message
    assert "train.json: sample [0]: too_long" in message and "fix: true" in message
    run.set_stages({"format": {"plugin": "llamafactory", "cutoff_len": 150, "fix": True}})
    manifest = run.run()
    assert manifest["stages"]["format"]["facts"]["preflight"]["ok"] is True
    # each 3-turn conversation (77 visual tokens) was cut into samples that fit 150 tokens
    train = json.loads((_dataset(run) / "train.json").read_text())
    assert len(train) > 2
    assert all(sum(m["content"].count("<image>") for m in s["messages"]) == 1 for s in train)


def test_rejected_pairs_are_left_out_and_unknown_images_named(fake_run):
    run = fake_run({"format": {"plugin": "llamafactory", "grouping": "per_pair"}}, n_images=2, per_image=2)
    pairs = list(read_jsonl(run.run_dir / "teach" / "pairs.jsonl"))
    pairs[0]["review"] = "rejected"
    write_jsonl_atomic(run.run_dir / "teach" / "pairs.jsonl", pairs)
    run.run()
    assert len(json.loads((_dataset(run) / "train.json").read_text())) == 3
    pairs[1]["image_id"] = "f" * 64
    write_jsonl_atomic(run.run_dir / "teach" / "pairs.jsonl", pairs)
    with pytest.raises(
        StageError, match=r"pair 2 .* names image f{64}, which is not in the run's images\.jsonl"
    ):
        run.run(from_stage="format")


def test_fix_with_the_student_tokenizer_leaves_nothing_for_llamafactory_to_drop(
    fake_run, lf_load, tiny_student
):
    run = fake_run(
        {
            "format": {
                "plugin": "llamafactory",
                "cutoff_len": 160,
                "fix": True,
                "tokenizer": str(tiny_student),
            }
        },
        n_images=2,
        per_image=6,
        size=(300, 200),
    )
    manifest = run.run()
    assert manifest["stages"]["format"]["facts"]["preflight"]["problems"] == {"too_long": 2}
    module, tokenizer = lf_load(_dataset(run), cutoff_len=160)
    labels = [tokenizer.decode([t for t in ex["labels"] if t != -100]) for ex in module["train_dataset"]]
    assert all(len(ex["input_ids"]) <= 160 for ex in module["train_dataset"])
    # every answer reaches training whole: no turn was cut off by cutoff_len
    for pair in run.pairs:
        assert sum(pair["answer"] in text for text in labels) == 1
