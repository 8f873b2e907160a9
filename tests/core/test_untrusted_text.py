"""Untrusted text (file contents, paths, server messages) is printed literally, never as markup."""

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from vlkd.core.progress import Reporter, literal

ROOT = Path(__file__).parents[2]


def test_literal_survives_markup_lookalikes():
    out = io.StringIO()
    reporter = Reporter(console=Console(file=out, width=200, emoji=False))
    for text in ("[/]", "[/bold] x", "[bold]y", "[link=http://x]z", ":warning:"):
        reporter.warn(literal(text))
        reporter.info(f"[dim]note:[/dim] {literal(text)}")
    printed = out.getvalue()
    for text in ("[/]", "[/bold] x", "[bold]y", "[link=http://x]z", ":warning:"):
        assert f"warning: {text}\n" in printed and f"note: {text}\n" in printed


def test_a_text_file_named_jpg_with_markup_is_skipped_and_shown_literally(tmp_path):
    from PIL import Image

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "bad.jpg").write_text("[/] oops [bold")
    Image.new("RGB", (64, 64), "red").save(inputs / "ok.png")
    (tmp_path / "r.yaml").write_text("name: mk\ningest:\n  plugin: files\n  inputs: [in]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"}
    result = subprocess.run(
        [sys.executable, "-m", "vlkd", "run", "r.yaml", "--run-dir", "out[/]dir"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "it is a text file ('[/] oops [bold'" in result.stderr
    assert f"run directory: {tmp_path / 'out[/]dir'}" in result.stderr
