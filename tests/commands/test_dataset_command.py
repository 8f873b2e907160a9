import json

from PIL import Image

from vlkd.testing.fake_run import run_cli


def test_check_dataset_reports_fixes_and_exits_nonzero_until_fixed(tmp_path, capsys):
    Image.new("RGB", (300, 200)).save(tmp_path / "a.png")
    data = [
        {
            "messages": [
                {"role": "user", "content": "<image>Q<image>"},
                {"role": "assistant", "content": "A"},
            ],
            "images": ["a.png"],
        }
    ]
    (tmp_path / "train.json").write_text(json.dumps(data))
    code, text = run_cli(capsys, "check-dataset", str(tmp_path / "train.json"))
    assert code == 2 and "which student? Pass --recipe RECIPE, --student MODEL or --family FAMILY" in text
    code, text = run_cli(capsys, "check-dataset", str(tmp_path / "train.json"), "--family", "qwen2_vl")
    assert code == 1
    assert f"{tmp_path / 'train.json'}: sample [0]: image_count: 2 <image> tag(s) but 1 image(s)" in text
    code, text = run_cli(
        capsys,
        "check-dataset",
        str(tmp_path / "train.json"),
        "--family",
        "qwen2_vl",
        "--cutoff-len",
        "50",
        "--json",
    )
    assert code == 1
    assert {p["kind"] for p in json.loads(text)["problems"]} == {"image_count", "too_long"}
    code, text = run_cli(
        capsys, "check-dataset", str(tmp_path / "train.json"), "--family", "qwen2_vl", "--fix"
    )
    assert code == 0 and "fixed: one <image> per image" in text
    code, text = run_cli(capsys, "check-dataset", str(tmp_path / "train.json"), "--student", "tiny:qwen2_vl")
    assert code == 0 and "no problems" in text


def test_check_dataset_missing_path_is_a_user_error(tmp_path, capsys):
    code, text = run_cli(capsys, "check-dataset", str(tmp_path / "nope"))
    assert code == 2 and "nope: no such file or directory" in text


def test_check_dataset_takes_the_student_the_format_stage_recorded(tmp_path, capsys):
    from vlkd.testing.fake_run import FakeRun, make_images, make_pairs

    images = make_images(tmp_path / "images", 2, (300, 200))
    run = FakeRun(
        tmp_path, {"format": {"plugin": "llamafactory", "cutoff_len": 200}}, images, make_pairs(images)
    )
    run.run()
    dataset = run.run_dir / "format" / "dataset"
    assert json.loads((dataset / "vlkd_dataset.json").read_text())["student"]["cutoff_len"] == 200
    code, text = run_cli(capsys, "check-dataset", str(dataset))
    assert code == 0 and "no problems" in text
    code, text = run_cli(capsys, "check-dataset", str(dataset), "--cutoff-len", "80")
    assert code == 1 and "> cutoff_len 80" in text
    code, text = run_cli(capsys, "check-dataset", str(dataset), "--family", "gemma9")
    assert code == 2 and "unknown family 'gemma9'" in text


def test_check_dataset_counts_text_with_the_recorded_students_tokenizer(tmp_path, capsys):
    """The format stage counted with the run's tiny student; check-dataset, with no option, the same."""
    import pytest

    pytest.importorskip("transformers")
    from vlkd.testing.fake_run import FakeRun, make_images, make_pairs

    images = make_images(tmp_path / "images", 2, (300, 200))
    run = FakeRun(
        tmp_path,
        {"student": {"model": "tiny:qwen2_vl"}, "format": {"plugin": "llamafactory", "cutoff_len": 400}},
        images,
        make_pairs(images),
    )
    run.run()
    dataset = run.run_dir / "format" / "dataset"
    assert json.loads((dataset / "vlkd_dataset.json").read_text())["student"]["model"] == "tiny:qwen2_vl"
    code, text = run_cli(capsys, "check-dataset", str(dataset), "--json")
    report, _ = json.JSONDecoder().raw_decode(text)  # the JSON report, then whatever the libraries said
    assert code == 0 and report["estimated_tokens"] is False
