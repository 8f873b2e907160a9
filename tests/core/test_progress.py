"""Progress where output is not a terminal (CI, tee, nohup): plain lines, the trainer's step and loss live."""

import io
import os
import subprocess
import sys
from types import SimpleNamespace

from rich.console import Console

from vlkd.core.progress import Reporter


def test_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    (tmp_path / "r.yaml").write_text("name: r\ningest:\n  plugin: counting\n  n: 4\n")
    env = {**os.environ, "VLKD_PLUGINS": "vlkd.testing.fixture_plugins", "VLKD_PROGRESS_SECONDS": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "vlkd", "run", "r.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for n in (1, 2, 3):
        assert any(line.startswith(f"ingest: {n}/4 ({25 * n}%), ") and "ETA" in line for line in lines), lines
    assert any(line.startswith("ingest: 4/4 (100%), ") and line.endswith("s") for line in lines), lines
    assert not any(line.startswith("  ingest ━") for line in lines)  # no bar drawn into a log


def test_plain_lines_are_rate_limited_and_literal():
    out = io.StringIO()
    reporter = Reporter(console=Console(file=out, width=200))
    task = reporter.progress("teach [/]", 1000)
    for _ in range(1000):
        task.advance()
    task.close()
    lines = out.getvalue().splitlines()
    assert len(lines) <= 2 and lines[-1].startswith("teach [/]: 1000/1000 (100%)")  # 5 s between lines


def test_the_trainer_shows_step_and_loss_live():
    from vlkd.plugins.train.launch import ProgressFromLog

    out = io.StringIO()
    os.environ["VLKD_PROGRESS_SECONDS"] = "0"
    try:
        reporter = Reporter(console=Console(file=out, width=200))
        ctx = SimpleNamespace(progress=lambda total, description=None: reporter.progress(description, total))
        progress = ProgressFromLog(ctx, "train (peft)")
        for step, loss in ((1, 5.61), (2, 4.2), (3, 3.05)):
            progress({"current_steps": step, "total_steps": 3, "loss": loss})
        progress({"current_steps": 3, "total_steps": 3, "eval_loss": 3.5})
        progress.close()
    finally:
        del os.environ["VLKD_PROGRESS_SECONDS"]
    text = out.getvalue()
    assert "train (peft): 2/3 (67%)" in text and "step 2/3, loss 4.2" in text
    assert "step 3/3, loss 3.05, eval loss 3.5" in text
    assert progress.last == {"loss": 3.05, "eval_loss": 3.5}
