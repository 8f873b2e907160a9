import base64
import io
import json

import pytest
from PIL import Image

from vlkd.core.errors import StageError

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


PUSH = """
import json, sys
from pathlib import Path
from vlkd.testing.fake_run import FakeRun, make_images, make_pairs
tmp = Path(sys.argv[1])
images = make_images(tmp / "images", 3)
stages = {"split": {"plugin": "by_image", "seed": 1}, "format": json.loads(sys.argv[2])}
manifest = FakeRun(tmp, stages, images, make_pairs(images)).run()
print(json.dumps(manifest["stages"]["format"].get("facts", {})))
"""


def push(tmp_path, hub, token, **options):
    """The format stage in a new process, as `vlkd run` runs it: huggingface_hub and datasets
    read HF_ENDPOINT when they are imported."""
    import os
    import subprocess
    import sys

    section = {"plugin": "hf_datasets", "push_to_hub": "me/cars", "token_env": "VLKD_TEST_HF", **options}
    env = {**os.environ, "HF_ENDPOINT": hub.url, "VLKD_TEST_HF": token}
    return subprocess.run(
        [sys.executable, "-c", PUSH, str(tmp_path), json.dumps(section)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_push_to_hub_uploads_the_parquet_files_privately_and_the_token_stays_out_of_the_run(tmp_path):
    pytest.importorskip("huggingface_hub")
    from vlkd.testing.fake_hub import FakeHub

    with FakeHub(tokens={"hf_secret_value_1": "write", "hf_read_value_1": "read"}) as hub:
        done = push(tmp_path / "a", hub, "hf_secret_value_1")
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.splitlines()[-1])["pushed_to"] == "me/cars"
        repo = hub.repos["me/cars"]
        assert repo.private and repo.repo_type == "dataset"
        pushed = {name for name in repo.files if name.endswith(".parquet")}
        assert pushed and all(name.startswith("data/") for name in pushed) and "README.md" in repo.files
        import io

        import pyarrow.parquet as pq

        rows = sum(pq.read_table(io.BytesIO(repo.files[name])).num_rows for name in pushed)
        local = tmp_path / "a" / "run" / "format" / "dataset" / "parquet"
        assert rows == sum(pq.read_table(p).num_rows for p in local.glob("*.parquet"))  # the same samples
        for path in (tmp_path / "a" / "run").rglob("*"):
            if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml"):
                assert "hf_secret_value_1" not in path.read_text(errors="replace")
        # a read-only token fails before any work
        refused = push(tmp_path / "b", hub, "hf_read_value_1")
        assert refused.returncode != 0 and "the token in VLKD_TEST_HF may only read" in refused.stderr
        assert not (tmp_path / "b" / "run" / "format" / "dataset" / "hf").exists()
        assert list(hub.repos) == ["me/cars"]


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
