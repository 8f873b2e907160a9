"""check-dataset on a copied dataset folder checks the copy itself, as LLaMA-Factory will read it."""

import shutil

from vlkd.testing.fake_run import FakeRun, make_images, make_pairs, run_cli


def _dataset(tmp_path, image_paths):
    images = make_images(tmp_path / "images", 2)
    stages = {"format": {"plugin": "llamafactory", "image_paths": image_paths}}
    run = FakeRun(tmp_path / image_paths, stages, images, make_pairs(images, 2))
    run.run()
    return run.run_dir / "format" / "dataset"


def test_a_copied_dataset_with_relative_paths_is_reported_broken(tmp_path, capsys):
    dataset = _dataset(tmp_path, "relative")
    code, text = run_cli(capsys, "check-dataset", str(dataset), "--family", "qwen2_vl")
    assert code == 0, text  # in place it is fine
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(dataset, copy)
    code, text = run_cli(capsys, "check-dataset", str(copy), "--family", "qwen2_vl")
    assert code == 1, text  # was: "no problems", following the original's absolute media_dir
    assert "not found" in text and str(copy) in text


def test_a_copied_dataset_with_copied_images_travels(tmp_path, capsys):
    dataset = _dataset(tmp_path, "copy")
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(dataset, copy)
    shutil.rmtree(dataset)  # the original is gone
    code, text = run_cli(capsys, "check-dataset", str(copy), "--family", "qwen2_vl")
    assert code == 0, text
