"""A run directory that is copied or moved keeps working: images.jsonl holds paths relative to it."""

import json
import shutil

from PIL import Image

from vlkd.testing.cli import edit_sheet, run_vlkd
from vlkd.testing.extras import needs


def vlkd(*args, cwd):
    return run_vlkd(*args, cwd=cwd, VLKD_DISABLE_PLUGIN_AUTOLOAD="1")


@needs("review")
def test_a_moved_run_directory_accepts_its_own_review_sheet(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.new("RGB", (96, 64), (i * 100, 20, 20)).save(photos / f"p{i}.png")
    (tmp_path / "pairs.csv").write_text(
        "image,question,answer\np0.png,What colour?,dark\np1.png,What colour?,red\n", encoding="utf-8"
    )
    (tmp_path / "r.yaml").write_text(
        "name: r\ningest:\n  plugin: files\n  inputs: photos\npreprocess:\n  - plugin: to_rgb\n"
        "teach:\n  plugin: annotations\n  path: pairs.csv\n"
        "review:\n  plugin: spreadsheet\n  require_approval: true\n  auto_approve: false\n"
    )
    first = vlkd("run", "r.yaml", "--run-dir", "A", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    stored = [
        json.loads(x) for x in (tmp_path / "A" / "preprocess" / "images.jsonl").read_text().splitlines()
    ]
    assert all(r["path"].startswith("preprocess/images/") for r in stored)
    shutil.move(tmp_path / "A", tmp_path / "B")  # the original is gone

    def approve_first(rows):
        rows[0]["status"] = "approved"

    back = edit_sheet(tmp_path / "B" / "review" / "review.csv", tmp_path / "back.csv", approve_first)
    imported = vlkd("review", "import", "B", str(back), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "unknown image" not in imported.stderr
    again = vlkd("run", "r.yaml", "--run-dir", "B", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    pairs = [json.loads(x) for x in (tmp_path / "B" / "review" / "pairs.jsonl").read_text().splitlines()]
    assert [p["review"] for p in pairs] == ["approved"]  # require_approval: only the approved one goes on
