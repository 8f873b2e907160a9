"""``vlkd_register_commands``: a plugin adds its commands beside its code, like the built-ins."""

import os
import subprocess
import sys
import textwrap

import pytest
import typer

from vlkd.commands import COMMAND_MODULES, command_names, register_commands
from vlkd.core.errors import PluginError


def vlkd(tmp_path, *args, plugins="team_commands"):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "VLKD_PLUGINS": plugins,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "vlkd", *args], env=env, capture_output=True, text=True, timeout=120
    )


PLUGIN = '''
import typer

from vlkd.api import VlkdError, hookimpl

tools = typer.Typer(help="Our team's tools.", no_args_is_help=True)


@tools.command("hello")
def hello(name: str) -> None:
    """Greet someone."""
    if name == "nobody":
        raise VlkdError("nobody to greet; pass a name")
    typer.echo(f"hello {name}")


@hookimpl
def vlkd_register_commands(app):
    app.add_typer(tools, name="team")
'''


def test_hook_vlkd_register_commands(tmp_path):
    (tmp_path / "team_commands.py").write_text(PLUGIN, encoding="utf-8")
    help_ = vlkd(tmp_path, "--help")
    assert help_.returncode == 0, help_.stderr
    assert "team" in help_.stdout and "Our team's tools." in help_.stdout
    assert vlkd(tmp_path, "team", "hello", "Ada").stdout == "hello Ada\n"
    error = vlkd(tmp_path, "team", "hello", "nobody")
    assert error.returncode == 2
    assert error.stderr.strip() == "error: nobody to greet; pass a name"


def test_a_command_name_taken_twice_is_an_error_naming_both(tmp_path):
    (tmp_path / "clash.py").write_text(
        textwrap.dedent(
            """
            from vlkd.api import hookimpl

            @hookimpl
            def vlkd_register_commands(app):
                @app.command("validate")
                def validate():
                    pass
            """
        ),
        encoding="utf-8",
    )
    result = vlkd(tmp_path, "--help", plugins="clash")
    assert result.returncode == 2
    assert "command 'vlkd validate' is registered twice: by vlkd and by clash local" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_built_in_groups_register_through_the_hook(monkeypatch):
    monkeypatch.delenv("VLKD_PLUGINS", raising=False)
    app = typer.Typer()
    register_commands(app, autoload=False)
    assert set(command_names(app)) >= {"review", "student", "check-dataset", "report"}
    for module in COMMAND_MODULES:
        assert hasattr(__import__(module, fromlist=["_"]), "vlkd_register_commands")


def test_a_duplicate_between_two_plugins_in_process(monkeypatch):
    monkeypatch.delenv("VLKD_PLUGINS", raising=False)
    app = typer.Typer()

    @app.command("report")
    def report():
        pass

    with pytest.raises(PluginError, match="command 'vlkd report' is registered twice: by vlkd and by vlkd "):
        register_commands(app, autoload=False)


def test_the_cli_registers_once_however_often_main_runs(monkeypatch):
    monkeypatch.delenv("VLKD_PLUGINS", raising=False)
    app = typer.Typer()
    register_commands(app, autoload=False)
    register_commands(app, autoload=False)
    names = command_names(app)
    assert len(names) == len(set(names)) and "review" in names
