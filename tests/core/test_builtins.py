"""One tuple of built-ins: the registry's modules, the CLI's and "is it vlkd's?" come from it."""

from __future__ import annotations

from vlkd.core.plugin_manager import distribution_of, plugin_manager
from vlkd.plugins import BUILTIN_MODULES, BUILTIN_PLUGINS, BUILTINS, COMMAND_MODULES


def test_every_built_in_is_listed_once_with_what_it_registers():
    modules = [m for m, _ in BUILTINS]
    assert len(modules) == len(set(modules))
    assert {role for _, role in BUILTINS} == {"stages", "commands"}
    assert set(BUILTIN_PLUGINS) | set(COMMAND_MODULES) == BUILTIN_MODULES


def test_every_built_in_command_module_is_reported_as_vlkd_not_local():
    from vlkd import __version__

    pm = plugin_manager(COMMAND_MODULES, autoload=False)
    for module in COMMAND_MODULES:  # vlkd.llamafactory.command was "local": it is outside vlkd.commands
        assert distribution_of(pm, pm.get_plugin(module)) == ("vlkd", __version__), module


def test_a_module_registered_by_hand_is_local(monkeypatch):
    monkeypatch.setenv("VLKD_PLUGINS", "vlkd.testing.fixture_plugins")
    pm = plugin_manager(autoload=False)
    plugin = pm.get_plugin("vlkd.testing.fixture_plugins")
    assert distribution_of(pm, plugin) == ("vlkd.testing.fixture_plugins", "local")
