"""A run directory that is moved or copied keeps using its own files: the tuned student, the
tiny student it was tuned from, the trainer's log. A real run (tiny student built offline,
one PEFT step), then ``mv``; ``vlkd predict`` and ``vlkd export --merged`` work on the moved run."""

import json
import shutil

import pytest
from PIL import Image

from vlkd.testing.cli import run_vlkd

pytest.importorskip("peft")

RECIPE = """name: r
student:
  model: tiny:qwen2_vl
  image_min_pixels: 3136
  image_max_pixels: 50176
  cutoff_len: 512
ingest:
  plugin: files
  inputs: photos
preprocess:
  - plugin: to_rgb
teach:
  plugin: annotations
  path: pairs.csv
review:
  plugin: spreadsheet
  auto_approve: true
split:
  plugin: by_image
  train: 0.5
  val: 0.0
  test: 0.5
format:
  plugin: llamafactory
train:
  plugin: peft
  max_steps: 1
  per_device_train_batch_size: 2
  logging_steps: 1
  save_steps: 100
"""


def vlkd(*args, cwd):
    return run_vlkd(*args, cwd=cwd, VLKD_DISABLE_PLUGIN_AUTOLOAD="1")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("moved")
    photos = root / "photos"
    photos.mkdir()
    rows = ["image,question,answer"]
    for i in range(4):
        Image.new("RGB", (112, 84), (i * 60, 30, 200 - i * 40)).save(photos / f"p{i}.png")
        rows.append(f"p{i}.png,What colour is it?,colour {i}")
    (root / "pairs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "r.yaml").write_text(RECIPE, encoding="utf-8")
    done = vlkd("run", "r.yaml", "--run-dir", "A", "--to", "train", cwd=root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.slow
def test_paths_inside_a_run_are_written_relative_to_it(trained_run):
    card = json.loads((trained_run / "A/train/model/vlkd_model.json").read_text())
    assert card["base_model"] == "../../students/tiny-qwen2_vl"
    assert not card["log"].startswith("/")
    for line in (trained_run / "A/preprocess/images.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert not record["path"].startswith("/")
        assert record["original"]["path"] == str(
            trained_run / "photos" / record["original"]["path"].split("/")[-1]
        )


@pytest.mark.slow
def test_a_moved_run_predicts_and_exports_merged_weights(trained_run):
    root = trained_run
    shutil.copytree(root / "A", root / "M")
    shutil.move(root / "M", root / "B")  # a run that moved: nothing is left where it was made
    image = str(root / "photos" / "p0.png")
    said = vlkd("predict", "B", image, "What colour is it?", "--max-new-tokens", "3", cwd=root)
    assert said.returncode == 0, said.stderr
    exported = vlkd("export", "B", "merged", "--merged", cwd=root)
    assert exported.returncode == 0, exported.stderr
    assert (root / "merged" / "config.json").is_file()


@pytest.mark.slow
def test_a_copy_uses_its_own_student_not_the_originals(trained_run):
    from vlkd.answering.items import load_model_info

    root = trained_run
    shutil.copytree(root / "A", root / "C")  # the original stays
    info = load_model_info(root / "C/train/model")
    assert info.base_model == str((root / "C/students/tiny-qwen2_vl").resolve())
    assert info.log is not None and (root / "C") in info.log.resolve().parents
    # a run written before paths were relative: absolute paths into the original run
    card_path = root / "C/train/model/vlkd_model.json"
    card = json.loads(card_path.read_text())
    card["base_model"] = str(root / "A/students/tiny-qwen2_vl")
    card["log"] = str((root / "A/train/model" / card["log"]).resolve())
    card_path.write_text(json.dumps(card))
    info = load_model_info(root / "C/train/model")
    assert info.base_model == str(root / "C/students/tiny-qwen2_vl")
    assert info.log == root / "C" / info.log.relative_to(root / "C")
    # a copy without its students/ folder: a one-line error, never the original's student
    shutil.rmtree(root / "C/students")
    lost = vlkd("predict", "C", str(root / "photos/p0.png"), "What colour is it?", cwd=root)
    assert lost.returncode == 2 and "Traceback" not in lost.stderr
    assert "students" in lost.stderr and "is missing" in lost.stderr


@pytest.mark.slow
def test_export_refuses_the_runs_own_folders(trained_run):
    root = trained_run
    inside = vlkd("export", "A", "A/train/model/adapter", cwd=root)
    assert inside.returncode == 2 and "inside the run directory" in inside.stderr
    assert not (root / "A/train/model/adapter/adapter").exists()  # no nested copy
