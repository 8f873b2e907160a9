"""A cache that cannot be written is the environment's fault, not the images': the stage stops
with the cause, nothing is recorded as failed, and the next run (the cache fixed) does the work."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from vlkd.core.errors import StorageError
from vlkd.testing.teach import ledger, read_pairs, recipe_yaml, section


def _stopped_then_retried(run_teach, folder, provider, tmp_path, spoil, fix):
    rd = tmp_path / "run"
    run_teach(folder, section(provider), run_dir=rd, to_stage="ingest")
    spoil(rd / "cache")
    try:
        with pytest.raises(StorageError) as err:
            run_teach(folder, section(provider), run_dir=rd)
    finally:
        fix(rd / "cache")
    message = str(err.value)
    assert "cache" in message and "the same command resumes" in message
    assert provider.stats()["requests"] == 0  # nothing asked that could not be kept
    assert not (rd / "teach" / "ledger.jsonl").exists() or ledger(rd) == []  # no image blamed
    manifest = json.loads((rd / "manifest.json").read_text())
    assert manifest["stages"]["teach"]["status"] == "failed"
    manifest, _ = run_teach(folder, section(provider), run_dir=rd)
    assert manifest["stages"]["teach"]["status"] == "done"
    assert [e["status"] for e in ledger(rd)] == ["ok"] * 4
    assert len({p["image_id"] for p in read_pairs(rd)}) == 4
    assert provider.stats()["requests"] == 4


def test_a_file_where_the_cache_folder_should_be_stops_teach(run_teach, images, provider, tmp_path):
    def spoil(cache):
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "teach").write_text("not a folder")

    _stopped_then_retried(
        run_teach, images(4), provider, tmp_path, spoil, lambda cache: (cache / "teach").unlink()
    )


def _without_root_powers() -> list[str]:
    """A command prefix under which a read-only folder is read-only: root writes into one all
    the same unless it gives up CAP_DAC_OVERRIDE (util-linux's setpriv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made here")
    drop = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", "--"]


def test_a_read_only_cache_stops_teach_and_the_next_run_retries(tmp_path, images, provider):
    folder = images(4)
    recipe = tmp_path / "r.yaml"
    teach = {**section(provider), "api_key": "${env:FAKE_KEY}"}
    recipe.write_text(recipe_yaml(folder, teach), encoding="utf-8")
    rd = tmp_path / "run"
    env = {**os.environ, "FAKE_KEY": provider.api_key, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "250"}

    def vlkd(*args):
        cmd = [
            *_without_root_powers(),
            sys.executable,
            "-m",
            "vlkd",
            "run",
            str(recipe),
            "--run-dir",
            str(rd),
        ]
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=600)

    assert vlkd("--to", "ingest").returncode == 0
    (rd / "cache").mkdir()
    (rd / "cache").chmod(0o555)
    try:
        stopped = vlkd()
    finally:
        (rd / "cache").chmod(0o755)
    assert stopped.returncode == 2, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert f"cannot write {rd / 'cache' / 'teach'}: Permission denied" in stopped.stderr
    assert "img_0" not in stopped.stderr  # no image blamed
    assert provider.stats()["requests"] == 0
    assert not (rd / "teach" / "ledger.jsonl").exists() or ledger(rd) == []
    again = vlkd()  # the permissions fixed: a plain re-run does the work
    assert again.returncode == 0, again.stderr
    assert [e["status"] for e in ledger(rd)] == ["ok"] * 4
    assert provider.stats()["requests"] == 4
