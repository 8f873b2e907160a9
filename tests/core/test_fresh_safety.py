"""--fresh deletes only what vlkd made; run directories never overlap input folders."""

from pathlib import Path

from PIL import Image

from vlkd.testing.cli import FIXTURE_PLUGINS, run_vlkd


def vlkd(*args, cwd):
    return run_vlkd(*args, cwd=cwd, VLKD_PLUGINS=FIXTURE_PLUGINS)


def photos(folder: Path, n: int = 2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (64, 64), (i * 90, 0, 0)).save(folder / f"{i}.png")
    return sorted(folder.iterdir())


def files_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ningest:\n  plugin: files\n  inputs: [photos]\n")
    return path


def counting_recipe(tmp_path: Path, name: str = "c") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\ningest:\n  plugin: counting\n  n: 2\n")
    return path


def test_fresh_refuses_a_folder_that_is_not_a_run_directory(tmp_path):
    counting_recipe(tmp_path)
    before = photos(tmp_path / "holiday")
    for extra in ([], ["--fresh"]):
        result = vlkd("run", "c.yaml", "--run-dir", "holiday", *extra, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "is not a vlkd run directory (it holds 0.png, 1.png)" in result.stderr
        assert "--fresh" not in result.stderr  # never suggest deleting someone's folder
        assert sorted((tmp_path / "holiday").iterdir()) == before


def test_run_dir_that_is_the_input_folder_is_refused_untouched(tmp_path):
    files_recipe(tmp_path)
    before = photos(tmp_path / "photos")
    for extra in ([], ["--fresh"]):
        result = vlkd("run", "r.yaml", "--run-dir", "photos", *extra, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert f"the run directory {tmp_path / 'photos'} is the input folder" in result.stderr
        assert sorted((tmp_path / "photos").iterdir()) == before


def test_run_dir_inside_an_input_folder_or_holding_one_is_refused(tmp_path):
    files_recipe(tmp_path)
    photos(tmp_path / "photos")
    inside = vlkd("run", "r.yaml", "--run-dir", "photos/run", cwd=tmp_path)
    assert inside.returncode == 2 and "is inside the input folder" in inside.stderr
    assert not (tmp_path / "photos" / "run").exists()  # not even created
    holding = vlkd("run", "r.yaml", "--run-dir", ".", cwd=tmp_path)
    assert holding.returncode == 2
    assert "inside the run directory" in holding.stderr or "is not a vlkd run directory" in holding.stderr
    glob = tmp_path / "g.yaml"
    glob.write_text("name: g\ningest:\n  plugin: files\n  inputs: ['photos/**/*.png']\n")
    globbed = vlkd("run", "g.yaml", "--run-dir", "photos/x", cwd=tmp_path)
    assert globbed.returncode == 2 and "is inside the input folder" in globbed.stderr


def test_fresh_keeps_a_run_directory_holding_files_vlkd_did_not_write(tmp_path):
    counting_recipe(tmp_path)
    assert vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path).returncode == 0
    notes = tmp_path / "D" / "my-notes.txt"
    notes.write_text("mine")
    result = vlkd("run", "c.yaml", "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert result.returncode == 2
    assert "holds files vlkd did not write (my-notes.txt)" in result.stderr
    assert notes.read_text() == "mine" and (tmp_path / "D" / "ingest" / "images.jsonl").exists()
    other = counting_recipe(tmp_path, "o")
    refused = vlkd("run", str(other), "--run-dir", "D", cwd=tmp_path)
    assert refused.returncode == 2 and "--fresh" not in refused.stderr
    notes.unlink()
    again = vlkd("run", "c.yaml", "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_fresh_removes_what_vlkd_made_and_keeps_the_cache(tmp_path):
    counting_recipe(tmp_path)
    assert vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path).returncode == 0
    (tmp_path / "D" / "cache" / "x").mkdir(parents=True)
    (tmp_path / "D" / "students").mkdir()  # made by the train stage
    result = vlkd("run", "c.yaml", "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "D" / "cache" / "x").is_dir() and not (tmp_path / "D" / "students").exists()
    other = counting_recipe(tmp_path, "o")
    switched = vlkd("run", str(other), "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert switched.returncode == 0, switched.stderr


def test_fresh_keeps_the_experts_review_decisions(tmp_path):
    """Expert decisions are human work, like paid teacher answers: --fresh starts the stages
    over, and the next review stage applies the stored decisions again."""
    counting_recipe(tmp_path)
    assert vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path).returncode == 0
    decisions = tmp_path / "D" / "review-imports"
    decisions.mkdir()
    (decisions / "imports.jsonl").write_text('{"kind": "decision", "pair": "p1", "status": "rejected"}\n')
    (decisions / "0001-review.xlsx").write_bytes(b"sheet")
    result = vlkd("run", "c.yaml", "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (decisions / "imports.jsonl").read_text().startswith('{"kind": "decision"')
    assert (decisions / "0001-review.xlsx").read_bytes() == b"sheet"
    assert (tmp_path / "D" / "ingest").is_dir()  # the stages themselves started over


def _age(path: Path, seconds: float) -> None:
    """Make the files under ``path`` look written ``seconds`` ago (a run that finished earlier)."""
    import os
    import time

    for file in [path, *path.rglob("*")]:
        then = time.time() - seconds
        os.utime(file, (then, then))


def _finished_earlier(run: Path, seconds: float = 60) -> None:
    """Move the run's stage times ``seconds`` back, as if the run had finished a while ago."""
    import datetime
    import json

    manifest = json.loads((run / "manifest.json").read_text())
    for entry in manifest["stages"].values():
        for key in ("started", "finished"):
            stamp = datetime.datetime.strptime(entry[key], "%Y-%m-%dT%H:%M:%S%z")
            entry[key] = (stamp - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest["updated"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
    (run / "manifest.json").write_text(json.dumps(manifest))
    for stage in manifest["stages"]:
        _age(run / stage, seconds)


def test_fresh_keeps_a_file_changed_or_left_inside_a_stage_folder(tmp_path):
    # an expert saves their edits into the sheet vlkd wrote, or their notes beside it: both live
    # below the top level, where the check of top-level names never looked
    counting_recipe(tmp_path)
    assert vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path).returncode == 0
    _finished_earlier(tmp_path / "D")
    images = tmp_path / "D" / "ingest" / "images.jsonl"
    images.write_text(images.read_text() + "\n")  # edited in place
    notes = tmp_path / "D" / "ingest" / "sub" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    result = vlkd("run", "c.yaml", "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "ingest/images.jsonl, ingest/sub/notes.txt changed after vlkd wrote them" in result.stderr
    assert "vlkd review import" in result.stderr
    assert notes.read_text() == "mine" and images.exists()
    notes.unlink()
    _age(images, 600)  # the edit undone: only what vlkd wrote is left
    again = vlkd("run", "c.yaml", "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_a_file_vlkd_rewrote_after_the_run_is_still_its_own(tmp_path):
    from vlkd.core.rundir import RunDir, note_written_at

    counting_recipe(tmp_path)
    assert vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path).returncode == 0
    _finished_earlier(tmp_path / "D")
    rewritten = tmp_path / "D" / "ingest" / "images.jsonl"
    rewritten.write_text(rewritten.read_text())  # as `vlkd report` or `check-dataset --fix` do
    assert RunDir(tmp_path / "D").changed_since_written(RunDir(tmp_path / "D").read_manifest())
    note_written_at(rewritten)
    assert RunDir(tmp_path / "D").changed_since_written(RunDir(tmp_path / "D").read_manifest()) == []
    again = vlkd("run", "c.yaml", "--run-dir", "D", "--fresh", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_fresh_starts_over_a_run_directory_copied_without_its_file_times(tmp_path):
    # `cp -r` gives every file a new time, the manifest's too: file times then say nothing about
    # who changed what, and the copy is vlkd's as a whole (its top-level names are still checked);
    # resumed, the copy's files are adopted as they are
    import json
    import shutil
    import time

    counting_recipe(tmp_path)
    assert vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path).returncode == 0
    _finished_earlier(tmp_path / "D", 600)
    shutil.copytree(tmp_path / "D", tmp_path / "E", copy_function=shutil.copy)  # files: now
    manifest = tmp_path / "E" / "manifest.json"
    then = time.time() - 600  # the copy's manifest file is newer than the time written in it
    manifest.write_text(manifest.read_text().replace('"updated"', '"updated-before-copy"'))
    data = json.loads(manifest.read_text())
    data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(then))
    manifest.write_text(json.dumps(data))
    resumed = vlkd("run", "c.yaml", "--run-dir", "E", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = vlkd("run", "c.yaml", "--run-dir", "E", "--fresh", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_from_a_stage_keeps_a_file_left_in_that_stage_folder(tmp_path):
    """``--from`` (or a changed recipe) starts a stage over: never by deleting a person's file there."""
    recipe = counting_recipe(tmp_path)
    assert vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path).returncode == 0
    _finished_earlier(tmp_path / "D")
    notes = tmp_path / "D" / "ingest" / "my_notes.txt"
    notes.write_text("mine")
    result = vlkd("run", "c.yaml", "--run-dir", "D", "--from", "ingest", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "ingest/my_notes.txt changed after vlkd wrote it" in result.stderr
    assert "would delete it" in result.stderr and "Traceback" not in result.stderr
    assert notes.read_text() == "mine"
    recipe.write_text(recipe.read_text().replace("n: 2", "n: 3"))  # a changed stage starts over too
    result = vlkd("run", "c.yaml", "--run-dir", "D", cwd=tmp_path)
    assert result.returncode == 2 and "ingest/my_notes.txt changed" in result.stderr
    assert notes.read_text() == "mine"
    notes.unlink()
    again = vlkd("run", "c.yaml", "--run-dir", "D", "--from", "ingest", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
