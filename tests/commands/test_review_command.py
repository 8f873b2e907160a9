import contextlib
import csv
import json
import sys
from pathlib import Path

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


@contextlib.contextmanager
def _serving(tmp_path, n_pairs, *args, lines=1, rest=None):
    """`vlkd review serve` started as a user would, on a fresh run: yields its first line(s) of output
    (``rest``: a list that gets the rest of its output once it stopped)."""
    import os
    import subprocess

    images = make_images(tmp_path / "images", 1)
    run = FakeRun(tmp_path, {"review": {"plugin": "spreadsheet"}}, images, make_pairs(images, n_pairs))
    run.run()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "COLUMNS": "400"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlkd", "review", "serve", str(run.run_dir), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        yield "".join(proc.stdout.readline() for _ in range(lines))
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
        if rest is not None:
            rest.append(out)


def test_review_serve_prints_its_url_and_serves_the_page(tmp_path):
    import re
    import urllib.request

    with _serving(tmp_path, 2, "--reviewer", "li") as line:
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url and "0 of 2 pairs reviewed" in line, line
        with urllib.request.urlopen(url.group(0)) as response:
            assert response.status == 200 and b"review.js" in response.read()


def test_review_serve_on_another_host_prints_a_token(tmp_path):
    import re
    import urllib.error
    import urllib.request

    with _serving(tmp_path, 1, "--host", "0.0.0.0") as line:
        found = re.search(r"http://\S+:(\d+)/\?token=([\w-]{16,})", line)
        assert found, line
        port = found.group(1)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/queue")
            raise AssertionError("served without a token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/queue", headers={"Authorization": f"Bearer {found.group(2)}"}
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 200


def test_review_serve_errors_are_one_line(tmp_path, capsys):
    code, text = run_cli(capsys, "review", "serve", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere: no such run directory" in text and "Traceback" not in text
    images = make_images(tmp_path / "images", 1)
    run = FakeRun(tmp_path, {"review": {"plugin": "spreadsheet"}}, images, make_pairs(images, 1))
    pairs = run.run_dir / "teach" / "pairs.jsonl"
    pairs.rename(pairs.with_suffix(".away"))  # the teacher has not answered yet
    code, text = run_cli(capsys, "review", "serve", str(run.run_dir))
    assert code == 2 and "run the recipe up to the review stage first" in text
    pairs.with_suffix(".away").rename(pairs)
    run.run()
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = str(busy.getsockname()[1])
        code, text = run_cli(capsys, "review", "serve", str(run.run_dir), "--port", port)
        assert code == 2 and f"port {port} on 127.0.0.1 is in use" in text and "--port" in text
    finally:
        busy.close()


def test_the_cli_loads_no_web_server_until_review_serve_runs():
    import subprocess

    code = (
        "import sys, vlkd.cli, vlkd.commands as c; c.register_commands(vlkd.cli.app)\n"
        "import vlkd.plugins.review, vlkd.plugins.review.spreadsheet\n"
        "heavy = {'starlette', 'uvicorn', 'playwright', 'sklearn', 'krippendorff'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
