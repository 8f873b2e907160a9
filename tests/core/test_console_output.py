"""What a person reads: whole lines where the output is not a terminal, tables whose identifying
columns never shrink, text from data never read as markup."""

import os
import re
import subprocess
import sys

from vlkd.testing.cli import FIXTURE_PLUGINS, run_vlkd_on_terminal

LONG = "/tmp/a-rather-long-directory-for-the-runs-of-this-recipe/that-goes-on/run/report/report.html"


def piped(*argv, code=None):
    """vlkd (or ``python -c code``) with stdout and stderr to pipes, as in CI or ``| tee``."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["VLKD_PLUGINS"] = FIXTURE_PLUGINS
    args = [sys.executable, "-c", code] if code else [sys.executable, "-m", "vlkd", *argv]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def in_terminal(*argv, columns=80):
    """vlkd's output on a pseudo-terminal of ``columns`` columns, as a person sees it."""
    code, out = run_vlkd_on_terminal(*argv, columns=columns)
    assert code == 0, out
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out).replace("\r", "")


def test_piped_messages_are_never_wrapped():
    result = piped(
        code=f"from vlkd.core.progress import Reporter; r = Reporter(); r.info('report: {LONG}'); r.warn('{LONG}')"
    )
    assert f"report: {LONG}\n" in result.stderr and f"warning: {LONG}\n" in result.stderr


def test_piped_tables_carry_whole_names():
    out = piped("student", "families").stdout
    for family, cls in (
        ("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration"),
        ("gemma3", "Gemma3ForConditionalGeneration"),
    ):
        assert f"│ {family} " in out and f"│ {cls} " in out, out


def test_identifying_columns_keep_their_width_in_a_narrow_terminal(monkeypatch):
    monkeypatch.setenv("VLKD_PLUGINS", FIXTURE_PLUGINS)
    out = in_terminal("student", "families", columns=80)
    assert max(len(line) for line in out.splitlines()) <= 80, out
    for family in ("qwen2_5_vl", "qwen2_vl", "qwen3_5", "qwen3_vl", "gemma3"):
        assert f"│ {family} " in out, out
    assert "qwen3_vl_nothink" in out  # the template, typed into LLaMA-Factory's YAML
    out = in_terminal("plugins", columns=80)
    assert re.search(r"│ student_resize +│", out) and re.search(r"│ exif_transpose +│", out), out


def test_an_install_hint_is_printed_as_it_is(monkeypatch):
    monkeypatch.setenv("VLKD_PLUGINS", FIXTURE_PLUGINS)
    out = piped("plugins").stdout
    line = next(line for line in out.splitlines() if "missing_extra" in line)
    assert 'pip install "vlkd[openai]"' in line, line
    assert in_terminal("plugins", columns=200).count('pip install "vlkd[openai]"') >= 1


def test_the_summary_table_prints_a_stage_status_as_text():
    from io import StringIO

    from rich.console import Console

    from vlkd.core.progress import Reporter

    out = StringIO()
    reporter = Reporter(console=Console(file=out, width=40))
    manifest = {"recipe": {"name": "r"}, "stages": {"ingest": {"status": "[bold]odd[/bold]"}}}
    reporter._table(manifest, ["ingest"])
    assert "[bold]odd[/bold]" in out.getvalue()
