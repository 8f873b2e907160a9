"""The command line as a person uses it: exit codes, messages, no tracebacks."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from vlkd.testing.extras import needs, skip_if_only_extras_missing

HERE = Path(__file__).parent


def vlkd(*args, cwd=None, env=None):
    env = {
        **os.environ,
        "VLKD_PLUGINS": "vlkd.testing.fixture_plugins",
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "vlkd", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_commands():
    result = vlkd("--help")
    assert result.returncode == 0
    for command in ("run", "validate", "plugins", "schema", "init"):
        assert f"  {command} " in result.stdout


def test_validate_ok(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ningest:\n  plugin: counting\n  n: 3\n")
    result = vlkd("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "recipe 'r': ingest (counting)" in result.stdout


def test_user_errors_exit_2_without_traceback(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ningest:\n  plugin: counting\n  n: -3\n  nn: 1\n")
    for command in ("validate", "run"):
        result = vlkd(command, str(path), "--set", "ingest.calls_file=x")
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert f"error: {path}:4:3: ingest.n: Input should be greater than 0" in result.stderr
        assert f"{path}:5:3: ingest.nn: unknown key 'nn' (did you mean 'n'?)" in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing written


def test_missing_recipe_file(tmp_path):
    result = vlkd("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert f"error: {tmp_path / 'nope.yaml'}: no such file" in result.stderr


def test_yaml_syntax_error(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ningest: {plugin: counting\n")
    result = vlkd("validate", str(path))
    assert result.returncode == 2
    assert f"{path}:3:1: YAML syntax error" in result.stderr


def test_run_default_run_dir_and_refusal(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ningest:\n  plugin: counting\n  n: 3\n")
    result = vlkd("run", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "r" / "manifest.json").exists()
    assert "ingest" in result.stderr and "done" in result.stderr  # summary table
    other = tmp_path / "o.yaml"
    other.write_text("name: o\ningest:\n  plugin: counting\n  n: 3\n")
    result = vlkd("run", str(other), "--run-dir", "runs/r", cwd=tmp_path)
    assert result.returncode == 2
    assert "holds a run of recipe 'r', not 'o'" in result.stderr


def test_quiet_prints_nothing_on_success(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ningest:\n  plugin: counting\n  n: 3\n")
    result = vlkd("run", str(path), "--quiet", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr == "" and result.stdout == ""


def test_init_writes_a_commented_recipe_that_validates(tmp_path):
    import json

    import jsonschema

    result = vlkd("init", "brand-x", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "brand-x.yaml").read_text()
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema_file = tmp_path / first.split("$schema=", 1)[1]
    assert schema_file.is_file()  # the editor's schema link resolves
    assert yaml.safe_load(text)["name"] == "brand-x"
    assert "put your images and PDFs in images/" in result.stderr
    assert (tmp_path / "images").is_dir()  # the starter validates as written, in an empty folder
    result = vlkd("validate", "brand-x.yaml", cwd=tmp_path, env={"VLKD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr
    # every stage the starter offers in a comment validates once uncommented
    offered = re.sub(r"^# (\w+): +(\{.*\})$", r"\1: \2", text, flags=re.M)
    assert offered.count("plugin:") >= 9
    (tmp_path / "all.yaml").write_text(offered)
    result = vlkd("validate", "all.yaml", "--strict", cwd=tmp_path, env={"VLKD_PLUGINS": ""})
    if result.returncode:
        skip_if_only_extras_missing(result.stderr.removeprefix("error: "))
    assert result.returncode == 0, result.stderr
    jsonschema.validate(yaml.safe_load(offered), json.loads(schema_file.read_text()))
    again = vlkd("init", "brand-x", cwd=tmp_path)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    bad = vlkd("init", "../x", cwd=tmp_path)
    assert bad.returncode == 2 and "a recipe name is letters, digits" in bad.stderr


def test_validate_names_missing_extras_without_failing_unless_strict(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ningest:\n  plugin: counting\nteach:\n  plugin: missing_extra\n")
    result = vlkd("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "recipe 'r': ingest (counting), teach (missing_extra)" in result.stdout
    assert 'not installed here (needed to run it): teach: missing_extra needs pip install "vlkd[openai]"' in (
        result.stderr
    )
    strict = vlkd("validate", str(path), "--strict")
    assert strict.returncode == 2
    assert "teach.plugin: plugin 'missing_extra' needs: pip install \"vlkd[openai]\"" in strict.stderr
    path.write_text("name: r\ningest:\n  plugin: counting\nteach:\n  plugin: missing_extra\n  modl: m\n")
    wrong = vlkd("validate", str(path))  # what can be checked still is
    assert wrong.returncode == 2 and "teach.modl: unknown key 'modl'" in wrong.stderr
    assert vlkd("run", str(path)).returncode == 2  # running needs the extra


def test_plugins_name_prints_the_options(tmp_path):
    result = vlkd("plugins", "counting")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ingest: counting (" in out and "Makes n fake image records" in out
    assert re.search(r"│ n +│ int +│ 10 +│ how many items", out), out
    assert re.search(r"│ api_key +│ secret \| null +│ null", out), out
    data = json.loads(vlkd("plugins", "ingest:counting", "--json").stdout)
    assert data[0]["options"][0] == {
        "option": "n",
        "type": "int",
        "default": "10",
        "description": "how many items",
    }
    unknown = vlkd("plugins", "countng")
    assert (
        unknown.returncode == 2 and "no plugin named 'countng' (did you mean 'counting'?)" in unknown.stderr
    )
    nested = vlkd("plugins", "openai", env={"VLKD_PLUGINS": ""})
    assert "prompt.language" in nested.stdout


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "vlkd", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "Usage" in result.stdout


@needs("demo")  # without the extras nothing heavy could be imported: the check means nothing
def test_help_validate_and_plugins_import_no_heavy_library():
    """torch, transformers, the SDKs... are imported only inside the plugins that use them."""
    demo = HERE.parents[1] / "recipes" / "demo.yaml"
    code = (
        "import sys, vlkd.cli, vlkd.commands as c; c.register_commands(vlkd.cli.app)\n"
        "from vlkd.core.recipe import load_recipe; load_recipe(sys.argv[1])\n"
        "from vlkd.core.schema import recipe_json_schema; from vlkd.core.registry import load_registry\n"
        "recipe_json_schema(load_registry())\n"
        "heavy = {'torch', 'transformers', 'peft', 'datasets', 'openai', 'anthropic', 'llamafactory',\n"
        "         'rapidocr_onnxruntime', 'onnxruntime', 'pandas', 'numpy', 'pypdfium2', 'openpyxl', 'ray'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(demo)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_validate_resolved_prints_what_the_recipe_really_says(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "name: base\nstudent:\n  model: tiny:qwen2_vl\n  cutoff_len: 1024\n"
        "ingest:\n  plugin: counting\n  n: ${env:VLKD_TEST_N,2}\n"
        "teach:\n  plugin: openai\n  model: gpt-4o\n  api_key: ${env:VLKD_TEST_KEY}\n"
    )
    (tmp_path / "r.yaml").write_text("extends: base.yaml\nname: r\nstudent:\n  image_max_pixels: 200704\n")
    env = {"VLKD_TEST_N": "5", "VLKD_TEST_KEY": "sk-very-secret"}
    result = vlkd(
        "validate", "--resolved", str(tmp_path / "r.yaml"), "--set", "student.cutoff_len=4096", env=env
    )
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)  # stdout is the YAML alone, ready to pipe
    assert list(data)[:2] == ["name", "student"]
    assert data["name"] == "r" and "extends" not in data
    assert data["student"] == {
        "model": "tiny:qwen2_vl",
        "family": "qwen2_vl",
        "image_min_pixels": 3136,
        "image_max_pixels": 200704,
        "cutoff_len": 4096,
        "template": "qwen2_vl",
    }
    assert data["ingest"]["n"] == 5
    assert "sk-very-secret" not in result.stdout + result.stderr
    assert data["teach"]["api_key"] == "**********"


def test_ctrl_c_while_the_command_line_imports_exits_130_without_traceback(tmp_path):
    # a Ctrl-C that lands while typer (the first thing vlkd.cli imports) loads: stand in a typer
    # whose import raises KeyboardInterrupt, as the signal would
    (tmp_path / "typer.py").write_text("raise KeyboardInterrupt\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "vlkd", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 130
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "interrupted"
