"""``vlkd student tiny FAMILY OUT_DIR`` never deletes what it did not build."""

from __future__ import annotations

import pytest

from vlkd.testing.cli import run_vlkd

pytest.importorskip("transformers")


def test_a_folder_with_someone_elses_files_is_refused_and_kept(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "notes.txt").write_text("mine")
    result = run_vlkd("student", "tiny", "qwen2_vl", str(photos))
    assert result.returncode == 2, result.stderr
    assert f"{photos}: is not empty and holds no tiny student" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in photos.iterdir()] == ["notes.txt"]
    assert (photos / "notes.txt").read_text() == "mine"


def test_a_file_is_refused_and_an_empty_folder_or_an_older_student_is_filled(tmp_path):
    file = tmp_path / "model.bin"
    file.write_bytes(b"weights")
    result = run_vlkd("student", "tiny", "qwen2_vl", str(file))
    assert result.returncode == 2 and "exists and is not a folder" in result.stderr
    assert file.read_bytes() == b"weights"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_vlkd("student", "tiny", "qwen2_vl", str(empty)).returncode == 0
    assert (empty / "config.json").is_file()
    # a tiny student of another family in the folder is vlkd's own: replaced
    switched = run_vlkd("student", "tiny", "qwen2_5_vl", str(empty))
    assert switched.returncode == 0, switched.stderr
    assert '"qwen2_5_vl"' in (empty / "vlkd_tiny_student.json").read_text()
