import csv
import json

from vlkd.testing.fake_run import FakeRun, make_images, make_pairs, run_cli


def test_review_import_command(tmp_path, capsys):
    images = make_images(tmp_path / "images", 1)
    run = FakeRun(tmp_path, {"review": {"plugin": "spreadsheet"}}, images, make_pairs(images, 2))
    run.run()
    sheet = run.run_dir / "review" / "review.csv"
    with sheet.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[1]["status"] = "maybe"
    back = tmp_path / "back.csv"
    with back.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, text = run_cli(capsys, "review", "import", str(run.run_dir), str(back))
    assert code == 2
    assert (
        "back.csv: 1 invalid row(s); nothing was applied" in text and "row 3: unknown status 'maybe'" in text
    )
    rows[1]["status"] = "rejected"
    with back.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, text = run_cli(capsys, "review", "import", str(run.run_dir), str(back))
    assert code == 0, text
    assert "1 change(s) (0 edited, 0 added, 1 status/other)" in text
    assert f"vlkd run {run.recipe_path} --run-dir {run.run_dir}" in text
    stored = run.run_dir / "review-imports" / "0001-back.csv"
    assert stored.is_file()
    index = [
        json.loads(x) for x in (run.run_dir / "review-imports" / "imports.jsonl").read_text().splitlines()
    ]
    assert index[0]["file"] == "0001-back.csv" and index[0]["changes"] == 1
    manifest = run.run()
    assert manifest["stages"]["review"]["facts"]["status"] == {"pending": 1, "rejected": 1}
