"""What a person sees on a terminal: vlkd's own lines, not the libraries' progress bars.

transformers draws "Loading weights" and "Writing model shards" bars with tqdm whenever stderr is
a terminal; inside vlkd's live display they cut into its lines. These tests run the console
command on a real pseudo-terminal with a size (tqdm prints nothing on a terminal of size 0)."""

from __future__ import annotations

import pytest

from vlkd.testing.cli import run_vlkd_on_terminal

pytest.importorskip("transformers")

BARS = ("Loading weights", "Writing model shards", "it/s]", "%|")


def test_building_a_tiny_student_shows_no_library_bar(tmp_path):
    out = tmp_path / "tiny"
    code, printed = run_vlkd_on_terminal("student", "tiny", "qwen2_vl", str(out))
    assert code == 0, printed
    assert (out / "config.json").exists()
    assert str(out) in printed
    assert not [bar for bar in BARS if bar in printed], printed


def test_a_bar_the_user_asked_for_is_theirs(monkeypatch):
    # the switch is a default: a user who sets TQDM_DISABLE=0 gets the libraries' bars back
    import os

    from vlkd.cli import quiet_library_bars

    monkeypatch.setenv("TQDM_DISABLE", "0")
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    quiet_library_bars()
    assert os.environ["TQDM_DISABLE"] == "0"
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
