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
    assert code == 1
    assert f"{tmp_path / 'train.json'}: sample [0]: image_count: 2 <image> tag(s) but 1 image(s)" in text
    code, text = run_cli(
        capsys, "check-dataset", str(tmp_path / "train.json"), "--cutoff-len", "50", "--json"
    )
    assert code == 1
    assert {p["kind"] for p in json.loads(text)["problems"]} == {"image_count", "too_long"}
    code, text = run_cli(capsys, "check-dataset", str(tmp_path / "train.json"), "--fix")
    assert code == 0 and "fixed: one <image> per image" in text
    code, text = run_cli(capsys, "check-dataset", str(tmp_path / "train.json"))
    assert code == 0 and "no problems" in text


def test_check_dataset_missing_path_is_a_user_error(tmp_path, capsys):
    code, text = run_cli(capsys, "check-dataset", str(tmp_path / "nope"))
    assert code == 2 and "nope: no such file or directory" in text
