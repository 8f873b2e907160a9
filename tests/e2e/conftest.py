"""The offline demo's run, made once per session for every end-to-end test that needs it: in a
folder of its own, at ``runs/demo`` as the README runs it (``recipes/examples/distill-demo.yaml``
names ``runs/demo/train/model`` as its teacher, relative to where vlkd runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "recipes" / "demo.yaml"


def vlkd(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "vlkd", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """(run directory, the CompletedProcess of ``vlkd run recipes/demo.yaml --run-dir runs/demo``)."""
    cwd = tmp_path_factory.mktemp("demo")
    result = vlkd("run", str(DEMO), "--run-dir", "runs/demo", cwd=cwd)
    assert result.returncode == 0, result.stderr[-4000:]
    return cwd / "runs" / "demo", result
