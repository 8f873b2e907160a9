"""Usage errors through the installed ``vlkd`` console script: one line and a hint, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlkd import __version__

ROOT = Path(__file__).parents[2]
VLKD = Path(sys.executable).parent / "vlkd"


def console_script(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    return subprocess.run([str(VLKD), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    result = console_script(flag)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"vlkd {__version__}\n"


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["run", "--bogus"], "error: No such option: --bogus", "vlkd run --help"),
        (["run", "r.yaml", "--bogus"], "error: No such option: --bogus", "vlkd run --help"),
        (["run"], "error: Missing argument 'recipe'.", "vlkd run --help"),
        (["validate"], "error: Missing argument 'recipe'.", "vlkd validate --help"),
        (["nosuchcmd"], "error: No such command 'nosuchcmd'.", "vlkd --help"),
        (["rn"], "error: No such command 'rn'. Did you mean 'run'?", "vlkd --help"),
        (["run", "r.yaml", "--set"], "error: Option '--set' requires an argument.", "--help"),
        (["plugins", "--json", "x", "y"], "error: Got unexpected extra argument", "vlkd plugins --help"),
        (["review", "nope"], "error: No such command 'nope'.", "vlkd review --help"),
        (["review", "import"], "error: Missing argument 'run_dir'.", "vlkd review import --help"),
    ],
)
def test_usage_errors_are_one_line_and_a_hint(tmp_path, args, message, hint):
    result = console_script(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(message), result.stderr
    assert hint in lines[1]
    assert "Traceback" not in result.stderr and "_click" not in result.stderr


def test_no_arguments_shows_the_commands():
    result = console_script()
    assert result.returncode == 2
    assert "Commands:" in result.stderr and "Traceback" not in result.stderr


def test_shell_completion_is_offered():
    result = console_script("--help")
    assert "--install-completion" in result.stdout
    # typer detects the shell from the parent process; a test names it instead
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1", "COLUMNS": "120"}
    shown = subprocess.run(
        [str(VLKD), "--show-completion", "bash"], env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0 and "_VLKD_COMPLETE" in shown.stdout


def test_completion_completes_commands():
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "_VLKD_COMPLETE": "complete_bash",
        "COMP_WORDS": "vlkd val",
        "COMP_CWORD": "1",
    }
    result = subprocess.run([str(VLKD)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "validate" in result.stdout


def test_a_file_the_command_cannot_write_is_one_line(tmp_path):
    result = console_script("schema", "-o", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path}: Is a directory (VLKD_DEBUG=1 shows the traceback)\n"
