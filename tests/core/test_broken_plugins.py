"""A broken third-party plugin, really installed (a distribution with ``vlkd`` entry points on the
path), never takes every command down: one line names it and the way out; its failing hook is a
clear error and the run's finished work is kept."""

import json
import os

from vlkd.testing.cli import FIXTURE_PLUGINS, run_vlkd
from vlkd.testing.distributions import install_distribution

RECIPE = "name: c\ningest:\n  plugin: counting\n  n: 3\nreport:\n  plugin: count_report\n"


def vlkd(*args, site, cwd, **env):
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return run_vlkd(*args, cwd=cwd, PYTHONPATH=path, VLKD_PLUGINS=FIXTURE_PLUGINS, **env)


def broken_site(tmp_path, source):
    return install_distribution(
        tmp_path / "site", "acme-vlkd", "1.2.3", {"acme_vlkd.py": source}, {"acme": "acme_vlkd"}
    )


def test_a_plugin_missing_a_dependency_is_named_in_one_line_and_every_command_works(tmp_path):
    site = broken_site(tmp_path, "import acme_gpu_runtime_not_installed\n")
    version = vlkd("--version", site=site, cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("vlkd ")
    lines = version.stderr.strip().splitlines()
    assert len(lines) == 1, version.stderr  # once, though the CLI builds more than one plugin manager
    line = lines[0]
    assert "Traceback" not in line
    for part in ("'acme'", "acme-vlkd 1.2.3", "acme_gpu_runtime_not_installed", "VLKD_BLOCK_PLUGINS=acme"):
        assert part in line
    assert "VLKD_DISABLE_PLUGIN_AUTOLOAD=1" in line
    (tmp_path / "c.yaml").write_text(RECIPE)
    ran = vlkd("run", "c.yaml", site=site, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "runs/c/report/report/count.txt").read_text() == "count: 3\n"
    # the way out it names works: no line at all
    for env in ({"VLKD_BLOCK_PLUGINS": "acme"}, {"VLKD_BLOCK_PLUGINS": "acme-vlkd"}):
        quiet = vlkd("plugins", site=site, cwd=tmp_path, **env)
        assert quiet.returncode == 0 and "acme" not in quiet.stderr, quiet.stderr


def test_a_plugin_whose_import_raises_or_whose_hook_is_unknown_is_left_out(tmp_path):
    site = broken_site(tmp_path, "raise RuntimeError('acme needs a licence file')\n")
    install_distribution(
        site,
        "odd-vlkd",
        "0.1",
        {
            "odd_vlkd.py": "import pluggy\n\n@pluggy.HookimplMarker('vlkd')\ndef vlkd_no_such_hook():\n    pass\n"
        },
        {"odd": "odd_vlkd"},
    )
    shown = vlkd("plugins", site=site, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stderr.strip().splitlines()
    assert len(lines) == 2, shown.stderr
    assert "acme-vlkd 1.2.3" in shown.stderr and "RuntimeError: acme needs a licence file" in shown.stderr
    assert "odd-vlkd 0.1" in shown.stderr and "vlkd_no_such_hook" in shown.stderr
    assert "counting" in shown.stdout


def test_a_stage_start_hook_that_raises_is_a_clear_error_and_finished_stages_are_kept(tmp_path):
    source = (
        "from vlkd.core.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef vlkd_stage_start(run, stage):\n"
        "    if stage == 'report':\n        raise ValueError('acme cannot reach its dashboard')\n"
    )
    site = broken_site(tmp_path, source)
    (tmp_path / "c.yaml").write_text(RECIPE)
    ran = vlkd("run", "c.yaml", site=site, cwd=tmp_path)
    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr
    assert "plugin 'acme' (acme-vlkd 1.2.3) failed in vlkd_stage_start" in ran.stderr
    assert "ValueError: acme cannot reach its dashboard" in ran.stderr
    assert "VLKD_BLOCK_PLUGINS=acme" in ran.stderr
    manifest = json.loads((tmp_path / "runs/c/manifest.json").read_text())
    assert manifest["stages"]["ingest"]["status"] == "done"
    assert manifest["stages"]["report"]["status"] == "failed"
    assert "acme" in manifest["stages"]["report"]["error"]
    # blocked, the run goes on from where it stopped: ingest is not redone
    again = vlkd("run", "c.yaml", site=site, cwd=tmp_path, VLKD_BLOCK_PLUGINS="acme")
    assert again.returncode == 0, again.stderr
    assert "ingest: up to date" in again.stderr + again.stdout
    assert (tmp_path / "runs/c/report/report/count.txt").read_text() == "count: 3\n"
