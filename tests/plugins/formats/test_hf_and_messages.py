import base64
import io
import json

import pytest
from PIL import Image

from vlkd.core.errors import StageError
from vlkd.plugins.formats import hf_datasets

SPLIT = {"plugin": "by_image", "train": 0.5, "val": 0.25, "test": 0.25, "seed": 3}


def test_hf_export_reloads_with_datasets_and_images_decode(fake_run, tmp_path):
    from datasets import load_dataset, load_from_disk

    run = fake_run({"split": SPLIT, "format": {"plugin": "hf_datasets"}}, n_images=8, per_image=2)
    run.run()
    ds_dir = run.run_dir / "format" / "dataset"
    descriptor = json.loads((ds_dir / "vlkd_dataset.json").read_text())
    assert descriptor["format"] == "hf_datasets" and descriptor["pairs"] == 16
    # the originals are gone: the saved dataset carries the image bytes
    for image in run.images:
        (tmp_path / "images" / image["path"].rsplit("/", 1)[-1]).unlink()
    loaded = load_from_disk(str(ds_dir / "hf"))
    assert set(loaded) == set(descriptor["splits"])
    sizes = {i["id"]: (i["width"], i["height"]) for i in run.images}
    rows = 0
    for split in loaded:
        for row in loaded[split]:
            rows += 1
            image = row["images"][0]
            assert isinstance(image, Image.Image) and image.size == sizes[row["image_id"]]
            assert row["messages"][0]["content"].startswith("<image>")
            assert len(row["pair_ids"]) == 2
    assert rows == 8
    parquet = load_dataset(
        "parquet", data_files={s: str(ds_dir / f) for s, f in descriptor["splits"].items()}
    )
    assert sum(len(parquet[s]) for s in parquet) == 8
    assert parquet["train"][0]["images"][0].size == (96, 64)


def test_push_to_hub_needs_a_token_before_any_work(fake_run, monkeypatch):
    monkeypatch.delenv("VLKD_TEST_HF", raising=False)
    run = fake_run(
        {"format": {"plugin": "hf_datasets", "push_to_hub": "me/cars", "token_env": "VLKD_TEST_HF"}}
    )
    with pytest.raises(
        StageError, match="push_to_hub needs a Hugging Face token in the environment: export VLKD_TEST_HF=hf_"
    ):
        run.run()
    assert not (run.run_dir / "format" / "dataset" / "hf").exists()


def test_push_to_hub_is_private_by_default_and_the_token_stays_out_of_the_run(fake_run, monkeypatch):
    calls = []
    monkeypatch.setenv("VLKD_TEST_HF", "hf_secret_value")
    monkeypatch.setattr(
        hf_datasets,
        "push_dataset",
        lambda dd, repo, *, private, token: calls.append((set(dd), repo, private, token)),
    )
    run = fake_run(
        {"format": {"plugin": "hf_datasets", "push_to_hub": "me/cars", "token_env": "VLKD_TEST_HF"}}
    )
    manifest = run.run()
    assert calls == [({"train"}, "me/cars", True, "hf_secret_value")]
    assert manifest["stages"]["format"]["facts"]["pushed_to"] == "me/cars"
    for path in run.run_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl"):
            assert "hf_secret_value" not in path.read_text(errors="replace")


def test_messages_jsonl_content_parts(fake_run):
    run = fake_run(
        {"format": {"plugin": "messages_jsonl", "image_url": "data", "system": "Be precise."}},
        n_images=2,
        per_image=2,
    )
    run.run()
    ds_dir = run.run_dir / "format" / "dataset"
    descriptor = json.loads((ds_dir / "vlkd_dataset.json").read_text())
    assert descriptor["format"] == "messages_jsonl" and descriptor["splits"] == {"train": "train.jsonl"}
    lines = [json.loads(x) for x in (ds_dir / "train.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    messages = lines[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    image_part, text_part = messages[1]["content"]
    assert image_part["type"] == "image_url" and text_part == {
        "type": "text",
        "text": "Question 0 about page 0?",
    }
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (96, 64)
    assert messages[3]["content"] == "Question 1 about page 0?"  # later turns: plain text, no image again


def test_messages_jsonl_relative_paths_resolve_from_the_dataset(fake_run):
    run = fake_run({"format": {"plugin": "messages_jsonl", "grouping": "per_pair"}}, n_images=2, per_image=2)
    run.run()
    ds_dir = run.run_dir / "format" / "dataset"
    lines = [json.loads(x) for x in (ds_dir / "train.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for line in lines:
        url = line["messages"][0]["content"][0]["image_url"]["url"]
        assert (ds_dir / url).is_file()
