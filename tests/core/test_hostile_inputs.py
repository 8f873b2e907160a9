"""Hostile and clumsy inputs: a clear error naming the file (or a skip with a reason), no traceback."""

import errno
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from vlkd.core.engine import Engine
from vlkd.core.errors import RecipeError, StorageError
from vlkd.core.ledger import Ledger
from vlkd.core.progress import Reporter
from vlkd.core.recipe import load_recipe
from vlkd.core.yaml_positions import load_yaml_file
from vlkd.testing.cli import FIXTURE_PLUGINS, run_vlkd


def vlkd(*args, cwd):
    return run_vlkd(*args, cwd=cwd, VLKD_PLUGINS=FIXTURE_PLUGINS)


def alias_bomb() -> str:
    """The classic "billion laughs": 9 levels of 9 aliases, 10^9 strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "name: bomb\n" + "\n".join(lines) + "\nj: [*i,*i,*i,*i,*i,*i,*i,*i,*i]\n"


def test_a_yaml_alias_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 600  # a few hundred bytes (the one reported had 517)
    with pytest.raises(RecipeError, match=r"bomb.yaml:\d+:\d+: more than [\d,]+ values once YAML aliases"):
        load_yaml_file(path)


@pytest.mark.parametrize("text", ["[" * 1000 + "]" * 1000, "{a: " * 1000 + "1" + "}" * 1000])
def test_yaml_nested_1000_deep_is_an_error_not_a_recursion_error(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(f"name: deep\nteach: {text}\n")
    result = vlkd("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "nested more than 64 levels deep" in result.stderr and "Traceback" not in result.stderr
    deep_set = vlkd("validate", str(path), "--set", "x=" + "[" * 1000, cwd=tmp_path)
    assert deep_set.returncode == 2 and "Traceback" not in deep_set.stderr


def test_a_recipe_that_is_a_fifo_a_device_or_huge_is_refused_before_reading(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as fh:
        fh.truncate(5 * 1024**3)  # sparse: 5 GB that take no space
    for path, message in (
        (fifo, "not a regular file: it is a named pipe"),
        (Path("/dev/zero"), "not a regular file: it is a character device"),
        (huge, "too large: 5,368,709,120 bytes"),
        (tmp_path, "not a regular file: it is a directory"),
    ):
        result = vlkd("validate", str(path), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert f"error: {path}: {message}" in result.stderr


def test_inputs_that_are_fifos_devices_huge_or_not_utf8_named_are_skipped_with_a_reason(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (64, 64), "red").save(folder / "ok.png")
    os.mkfifo(folder / "pipe.jpg")
    bad_name = os.fsdecode(b"caf\xe9.png")
    Image.new("RGB", (64, 64), "blue").save(folder / bad_name)
    Image.frombytes("RGB", (100, 100), os.urandom(30000)).save(folder / "big.png")  # ~30 KB
    manifest_fifo = tmp_path / "m.csv"
    os.mkfifo(manifest_fifo)
    (tmp_path / "r.yaml").write_text(
        "name: r\ningest:\n  plugin: files\n  inputs: [in, /dev/zero]\n  max_file_mb: 0.01\n"
    )
    result = vlkd("run", "r.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "skipped /dev/zero: not a regular file: /dev/zero: it is a character device" in err
    assert f"skipped {folder / 'pipe.jpg'}: not a regular file" in err
    assert f"skipped {folder}/caf\\xe9.png: file name is not UTF-8" in err
    assert f"skipped {folder / 'big.png'}: too large" in err
    assert "│ ingest │ done   │  1 │       4 │" in err
    (tmp_path / "m.yaml").write_text("name: m\ningest:\n  plugin: files\n  manifest: m.csv\n")
    refused = vlkd("run", "m.yaml", cwd=tmp_path)
    assert (
        refused.returncode == 2
        and f"{manifest_fifo}: not a regular file: it is a named pipe" in refused.stderr
    )


def test_a_name_too_long_for_a_directory_fails_validation(tmp_path):
    (tmp_path / "r.yaml").write_text(f"name: {'x' * 300}\ningest:\n  plugin: counting\n")
    result = vlkd("validate", "r.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "r.yaml:1:1: name: 300 characters is too long (at most 100" in result.stderr


def _counting(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        f"name: r\ningest:\n  plugin: counting\n  n: {n}\n  calls_file: {tmp_path / 'calls.txt'}\n"
    )
    return path


def test_a_full_disk_says_which_directory_and_resumes_once_space_is_freed(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the simulated test below still runs)")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        filler = disk / "filler"
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler.write_bytes(b"\0" * (free - 48 * 1024))
        recipe = _counting(tmp_path, 2000)
        result = vlkd("run", str(recipe), "--run-dir", str(disk / "run"), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"No space left on device (run directory {disk / 'run'}); free some space" in result.stderr
        assert "the same command resumes" in result.stderr
        done = len((tmp_path / "calls.txt").read_text().split())
        assert 0 < done < 2000
        filler.unlink()
        again = vlkd("run", str(recipe), "--run-dir", str(disk / "run"), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "resuming:" in again.stderr
        calls = (tmp_path / "calls.txt").read_text().split()
        assert sorted(set(calls), key=int) == [str(i) for i in range(2000)]
        assert len(calls) <= 2001  # at most the item whose record could not be written is done again
    finally:
        subprocess.run(["umount", str(disk)])


def test_an_oserror_writing_the_run_directory_is_a_message(tmp_path, registry, monkeypatch):
    recipe = load_recipe(_counting(tmp_path, 5), registry=registry)
    real = Ledger.record
    calls = {"n": 0}

    def record(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "record", record)
    with pytest.raises(
        StorageError, match=r"No space left on device \(run directory .*run\); free some space"
    ):
        Engine(recipe, tmp_path / "run", reporter=Reporter(quiet=True)).run()
    monkeypatch.setattr(Ledger, "record", real)
    Engine(recipe, tmp_path / "run", reporter=Reporter(quiet=True)).run()
    calls_made = (tmp_path / "calls.txt").read_text().split()
    assert sorted(set(calls_made), key=int) == [str(i) for i in range(5)] and len(calls_made) == 6


def test_a_read_only_run_directory_is_a_message(tmp_path, registry):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    recipe = load_recipe(_counting(tmp_path, 2), registry=registry)
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(StorageError, match="fix its permissions or choose another --run-dir"):
        Engine(recipe, tmp_path / "ro" / "run", reporter=Reporter(quiet=True)).run()
