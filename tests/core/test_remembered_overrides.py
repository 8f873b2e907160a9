"""The run directory remembers the --set overrides that shaped it; printed commands resume it."""

import json
import os
import signal
import subprocess
import sys
import time

from PIL import Image

from vlkd.core.overrides import merge
from vlkd.testing.cli import FIXTURE_PLUGINS, ctrl_c_reaches_it, edit_sheet, run_printed, run_vlkd
from vlkd.testing.extras import needs
from vlkd.testing.fake_provider import FakeProvider


def vlkd(args, cwd, **env):
    return run_vlkd(*args, cwd=cwd, VLKD_PLUGINS=FIXTURE_PLUGINS, **env)


def env(**extra):
    return {**os.environ, "VLKD_PLUGINS": FIXTURE_PLUGINS, "COLUMNS": "250", **extra}


def test_merge_rules():
    merged = merge(["a.b=1", "c=2"], ["a.b=3", "d=4"])
    assert merged.apply == ["c=2", "a.b=3", "d=4"]
    assert "override changed: a.b=3 (this run directory had a.b=1)" in merged.notes
    assert merge(["a.b=1"], ["a={x: 1}"]).apply == ["a={x: 1}"]  # a parent replaces its children
    assert merge(["a=1"], ["a=1"]).notes == []
    assert merge(["a=1"], ["b=2"], forget=True).apply == ["b=2"]


def test_a_re_run_without_the_sets_continues_the_same_run(tmp_path):
    (tmp_path / "r.yaml").write_text("name: r\ningest:\n  plugin: counting\n  n: 3\n  label: file\n")
    first = vlkd(["run", "r.yaml", "--run-dir", "D", "--set", "ingest.label=cli"], tmp_path)
    assert first.returncode == 0, first.stderr
    manifest = json.loads((tmp_path / "D" / "manifest.json").read_text())
    assert manifest["overrides"] == ["ingest.label=cli"]
    again = vlkd(["run", "r.yaml", "--run-dir", "D"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "with the overrides this run directory remembers: --set ingest.label=cli" in again.stderr
    assert "ingest: up to date" in again.stderr  # nothing redone
    changed = vlkd(["run", "r.yaml", "--run-dir", "D", "--set", "ingest.label=other"], tmp_path)
    assert "override changed: ingest.label=other (this run directory had ingest.label=cli)" in changed.stderr
    records = (tmp_path / "D" / "ingest" / "images.jsonl").read_text()
    assert '"label":"other"' in records
    forgot = vlkd(["run", "r.yaml", "--run-dir", "D", "--forget-sets"], tmp_path)
    assert "forgetting the overrides this run directory remembered" in forgot.stderr
    assert '"label":"file"' in (tmp_path / "D" / "ingest" / "images.jsonl").read_text()


def test_secrets_given_with_set_are_not_remembered(tmp_path):
    (tmp_path / "r.yaml").write_text("name: r\ningest:\n  plugin: counting\n  n: 2\n")
    result = vlkd(["run", "r.yaml", "--run-dir", "D", "--set", "ingest.api_key=sk-very-secret"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sk-very-secret" not in (tmp_path / "D" / "manifest.json").read_text()


def test_dry_run_does_not_count_as_done_what_the_real_run_redoes(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (64, 64), (i * 60, 10, 10)).save(folder / f"{i}.png")
    with FakeProvider() as server:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(
            json.dumps(
                {
                    "name": "t",
                    "ingest": {"plugin": "files", "inputs": "photos"},
                    "teach": {
                        "plugin": "openai",
                        "model": "gpt-4o",
                        "base_url": server.openai_url,
                        "api_key": "${env:FAKE_KEY}",
                    },
                }
            )
        )
        first = vlkd(["run", "r.yaml", "--run-dir", "D"], tmp_path, FAKE_KEY=server.api_key)
        assert first.returncode == 0, first.stderr
        # a changed prompt restarts teach: its old ledger is no work done
        dry = vlkd(
            [
                "run",
                "r.yaml",
                "--run-dir",
                "D",
                "--dry-run",
                "--no-cache",
                "--set",
                "teach.prompt.language=en",
            ],
            tmp_path,
            FAKE_KEY=server.api_key,
        )
        assert dry.returncode == 0, dry.stderr
        assert "3 images: 0 done, 0 cached, 3 calls to make" in dry.stderr, dry.stderr
        fresh = vlkd(
            ["run", "r.yaml", "--run-dir", "D", "--dry-run", "--fresh"], tmp_path, FAKE_KEY=server.api_key
        )
        assert fresh.returncode == 0, fresh.stderr
        assert (tmp_path / "D" / "teach" / "pairs.jsonl").exists()  # a dry run deletes nothing


def test_ctrl_c_resume_command_keeps_the_endpoint_and_pays_nothing_twice(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        Image.new("RGB", (64, 64), (i * 20, 255 - i * 20, 7)).save(folder / f"{i:02d}.png")
    with FakeProvider() as own, FakeProvider(latency=0.3) as chosen:
        (tmp_path / "r.yaml").write_text(
            json.dumps(
                {
                    "name": "t",
                    "ingest": {"plugin": "files", "inputs": "photos", "workers": 1},
                    "teach": {
                        "plugin": "openai",
                        "model": "gpt-4o",
                        "base_url": own.openai_url,
                        "api_key": "${env:FAKE_KEY}",
                        "concurrency": 1,
                    },
                }
            )
        )
        args = [
            "run",
            "r.yaml",
            "--run-dir",
            "D",
            "--set",
            f"teach.base_url={chosen.openai_url}",
            "--set",
            "teach.temperature=0.3",
        ]
        proc = subprocess.Popen(
            [sys.executable, "-m", "vlkd", *args],
            cwd=tmp_path,
            env=env(FAKE_KEY=own.api_key),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=ctrl_c_reaches_it,
        )
        ledger = tmp_path / "D" / "teach" / "ledger.jsonl"
        deadline = time.monotonic() + 90
        while not (ledger.exists() and len(ledger.read_text().splitlines()) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        line = next(x for x in err.splitlines() if x.startswith("Resume with: "))
        finished = {json.loads(x)["key"] for x in ledger.read_text().splitlines()}
        assert 3 <= len(finished) < 12

        resumed = run_printed(
            line.removeprefix("Resume with: "), tmp_path, VLKD_PLUGINS=FIXTURE_PLUGINS, FAKE_KEY=own.api_key
        )
        assert resumed.returncode == 0, resumed.stderr
        assert own.requests == {} or sum(own.requests.values()) == 0  # the recipe's own endpoint: never
        assert all(chosen.requests[k] == 1 for k in finished)  # answers received are not paid again
        # only the request in flight at Ctrl-C (concurrency 1), never answered, is asked again
        assert sum(chosen.requests.values()) <= 13 and len(chosen.requests) == 12
        manifest = json.loads((tmp_path / "D" / "manifest.json").read_text())
        assert manifest["recipe"]["resolved"]["teach"]["temperature"] == 0.3


@needs("review")
def test_review_imports_apply_command_keeps_the_runs_overrides(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.new("RGB", (96, 64), (i * 80, 30, 30)).save(photos / f"p{i}.png")
    (tmp_path / "pairs.csv").write_text(
        "image,question,answer\n" + "".join(f"p{i}.png,Q{j}?,A{j}\n" for i in range(3) for j in range(2))
    )
    (tmp_path / "r.yaml").write_text(
        "name: r\ningest:\n  plugin: files\n  inputs: photos\nteach:\n  plugin: annotations\n"
        "  path: pairs.csv\nreview:\n  plugin: spreadsheet\n  require_approval: true\n  auto_approve: true\n"
    )
    first = vlkd(["run", "r.yaml", "--run-dir", "D", "--set", "review.auto_approve=false"], tmp_path)
    assert first.returncode == 0, first.stderr

    def approve_first(rows):
        assert len(rows) == 6
        rows[0]["status"] = "approved"

    back = edit_sheet(tmp_path / "D" / "review" / "review.csv", tmp_path / "back.csv", approve_first)
    imported = vlkd(["review", "import", "D", str(back)], tmp_path)
    assert imported.returncode == 0, imported.stderr
    command = imported.stderr.split("Apply it (review and the stages after it re-run): ", 1)[1].strip()
    applied = run_printed(" ".join(command.split()), tmp_path)
    assert applied.returncode == 0, applied.stderr
    pairs = (tmp_path / "D" / "review" / "pairs.jsonl").read_text().splitlines()
    assert len(pairs) == 1  # only the pair the expert approved; not all six auto-approved


def test_a_remembered_override_that_no_longer_fits_the_recipe_says_so(tmp_path):
    (tmp_path / "r.yaml").write_text("name: o\ningest:\n  plugin: counting\n  n: 2\n")
    assert vlkd(["run", "r.yaml", "--run-dir", "D", "--set", "ingest.label=a"], tmp_path).returncode == 0
    (tmp_path / "r.yaml").write_text("name: o\ningest:\n  plugin: needs_file\n  prompt_file: r.yaml\n")
    result = vlkd(["run", "r.yaml", "--run-dir", "D"], tmp_path)
    assert result.returncode == 2
    assert "the run directory remembers --set ingest.label=a from an earlier run" in result.stderr
    assert "--forget-sets" in result.stderr and "Traceback" not in result.stderr
    assert vlkd(["run", "r.yaml", "--run-dir", "D", "--forget-sets"], tmp_path).returncode == 0
