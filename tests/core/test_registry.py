import importlib.metadata
import json
import subprocess
import sys

import pytest

from vlkd.core.errors import PluginError
from vlkd.core.hookspecs import hookimpl
from vlkd.core.plugin import StagePlugin
from vlkd.core.registry import Registry, get_plugin_manager

try:
    importlib.metadata.version("vlkd-example-plugin")
    example_missing = False
except importlib.metadata.PackageNotFoundError:
    example_missing = True
needs_example = pytest.mark.skipif(
    example_missing, reason="needs pip install ./examples/vlkd-example-plugin (the test command installs it)"
)


class A(StagePlugin):
    pass


def test_builtins_and_third_party_register_the_same_way(vlkd_plugin_manager):
    registry = Registry(vlkd_plugin_manager)
    for info in registry.all():
        assert info.distribution == "vlkd"
    names = vlkd_plugin_manager.list_name_plugin()
    from vlkd.plugins import BUILTIN_PLUGINS

    assert [n for n, _ in names] == list(BUILTIN_PLUGINS)


def test_duplicate_name_is_an_error_naming_both_sources(vlkd_registry):
    class One:
        @hookimpl
        def vlkd_register_ingestors(self, register):
            register("dup", A)

    class Two:
        @hookimpl
        def vlkd_register_ingestors(self, register):
            register("dup", A)

    with pytest.raises(PluginError) as err:
        vlkd_registry(One(), Two())
    message = str(err.value)
    assert message.startswith("ingestor plugin 'dup' is registered twice: by ")
    assert message.count("local") == 2 and "uninstall one of them" in message


def test_a_misspelled_hook_fails_loudly(vlkd_registry):
    class Typo:
        @hookimpl
        def vlkd_register_teacher(self, register):  # missing 's'
            pass

    with pytest.raises(Exception, match="vlkd_register_teacher"):
        vlkd_registry(Typo())


def test_register_rejects_non_plugins(vlkd_registry):
    class Bad:
        @hookimpl
        def vlkd_register_formats(self, register):
            register("x", dict)

    with pytest.raises(PluginError, match="format 'x' must be a vlkd Plugin subclass"):
        vlkd_registry(Bad())


@needs_example
def test_example_plugin_is_discovered_through_its_entry_point():
    """examples/vlkd-example-plugin is pip-installed by the test command."""
    registry = Registry(get_plugin_manager(autoload=True))
    info = registry.get("preprocess", "grayscale")
    assert (info.distribution, info.version) == ("vlkd-example-plugin", "0.1.0")


def test_autoload_can_be_disabled(monkeypatch):
    monkeypatch.setenv("VLKD_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry(get_plugin_manager())
    assert "grayscale" not in registry.names("preprocess")


@needs_example
def test_plugins_command_lists_kind_name_distribution_version():
    out = subprocess.run(
        [sys.executable, "-m", "vlkd", "plugins", "--json"], capture_output=True, text=True, check=True
    ).stdout
    rows = json.loads(out)
    assert {
        "kind": "preprocess",
        "name": "grayscale",
        "distribution": "vlkd-example-plugin",
        "version": "0.1.0",
    }.items() <= next(r for r in rows if r["name"] == "grayscale").items()


def test_vlkd_plugins_env_loads_a_local_module(monkeypatch):
    monkeypatch.setenv("VLKD_PLUGINS", "no_such_module_xyz")
    with pytest.raises(PluginError, match="VLKD_PLUGINS: cannot import plugin module 'no_such_module_xyz'"):
        get_plugin_manager()
