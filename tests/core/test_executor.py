"""The executor seam: local by default, without Ray; ``executor:`` / ``--executor`` / ``--address``
checked as recipe options; an unreachable Ray cluster is one clear error before any work."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlkd.core.errors import RecipeError
from vlkd.core.executor import ExecutorOptions, chosen_executor
from vlkd.core.recipe import load_recipe
from vlkd.testing.extras import needs
from vlkd.testing.ray_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
RECIPE = """\
name: counting
ingest:
  plugin: counting
  n: 6
  workers: 2
  calls_file: {calls}
"""


def vlkd(*args, cwd):
    env = {**os.environ, "VLKD_PLUGINS": "vlkd.testing.fixture_plugins", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "vlkd", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def test_a_local_run_imports_no_ray(tmp_path):
    """The default executor is today's threads and processes: a whole run never imports ray."""
    calls = tmp_path / "calls.txt"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(calls=calls))
    code = (
        "import sys\nfrom vlkd.cli import main\n"
        "try:\n    main(['run', sys.argv[1], '--run-dir', sys.argv[2]])\nexcept SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('RAY' if any(m == 'ray' or m.startswith('ray.') for m in sys.modules) else 'NO-RAY')"
    )
    env = {**os.environ, "VLKD_PLUGINS": "vlkd.testing.fixture_plugins"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(recipe), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "NO-RAY"
    assert sorted(calls.read_text().split()) == [str(i) for i in range(6)]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert "executor" not in manifest["stages"]["ingest"].get("facts", {})


def test_executor_section_short_and_long_forms(write, registry):
    short = load_recipe(write("a.yaml", "name: a\nexecutor: ray\n"), registry=registry)
    assert short.executor == ExecutorOptions(name="ray")
    long = load_recipe(
        write("b.yaml", "name: b\nexecutor:\n  name: ray\n  address: auto\n  max_retries: 1\n"),
        registry=registry,
    )
    assert (long.executor.address, long.executor.max_retries) == ("auto", 1)
    assert long.resolved()["executor"] == {"name": "ray", "address": "auto", "max_retries": 1}


def test_a_bad_executor_is_an_error_at_its_line(write, registry):
    path = write("c.yaml", "name: c\nexecutor:\n  name: ray\n  adress: auto\n")
    with pytest.raises(RecipeError) as exc:
        load_recipe(path, registry=registry)
    (line,) = exc.value.problems
    assert line.startswith(f"{path}:4:3: executor.adress: unknown key 'adress'")
    assert "did you mean 'address'" in line
    with pytest.raises(
        RecipeError, match=r"c2\.yaml:2:1: executor: 'slurm' is not an executor; choose local or ray"
    ):
        load_recipe(write("c2.yaml", "name: c\nexecutor: slurm\n"), registry=registry)


def test_command_line_overrides_the_recipe():
    recipe = ExecutorOptions(name="ray", address="auto", max_retries=5)
    assert chosen_executor(recipe, None, None) is recipe
    assert chosen_executor(recipe, "local", None).name == "local"
    changed = chosen_executor(recipe, None, "ray://head:10001")
    assert (changed.name, changed.address, changed.max_retries) == ("ray", "ray://head:10001", 5)
    assert recipe.address == "auto"  # the recipe's own options are left as they were
    with pytest.raises(Exception, match="--address names a Ray cluster: add --executor ray"):
        chosen_executor(None, None, "auto")
    with pytest.raises(Exception, match="--executor dask: not an executor"):
        chosen_executor(None, "dask", None)


@needs("ray")
def test_an_unreachable_cluster_is_one_error_before_any_work(tmp_path):
    calls = tmp_path / "calls.txt"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(calls=calls))
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = vlkd(
        "run", str(recipe), "--run-dir", "run", "--executor", "ray", "--address", address, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert f"executor ray: no Ray cluster answers at {address}" in result.stderr
    assert "ray start --head" in result.stderr
    assert not calls.exists()  # no item was run
    manifest = (
        json.loads((tmp_path / "run" / "manifest.json").read_text())
        if (tmp_path / "run" / "manifest.json").exists()
        else {}
    )
    assert manifest.get("stages", {}).get("ingest", {}).get("status") in (None, "pending")
