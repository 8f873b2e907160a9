"""Command groups beyond the core ones (review, student, dataset checks, reports).

Each module here implements ``vlkd_register_commands(app)`` (see ``vlkd.core.hookspecs``)
and is registered on the CLI's plugin manager like a third-party plugin found through the
``vlkd`` entry-point group. The CLI builds that manager at every start, so these modules
(and plugins' command code) import nothing heavy at module level.
"""

from __future__ import annotations

import typer

from vlkd.core.errors import PluginError
from vlkd.core.plugin_manager import distribution_of, plugin_manager, warn_broken
from vlkd.plugins import BUILTIN_MODULES, COMMAND_MODULES  # the one list of built-ins (vlkd.plugins.BUILTINS)


def register_commands(app: typer.Typer, *, autoload: bool | None = None) -> None:
    """Let every plugin (the built-in command modules first) add its commands to ``app``.

    Once per app: ``vlkd.cli.main`` may be called more than once in a process (tests do).
    """
    if getattr(app, "_vlkd_commands_registered", False):
        return
    app._vlkd_commands_registered = True  # type: ignore[attr-defined]
    pm = plugin_manager(COMMAND_MODULES, autoload=autoload)
    owners = {name: "vlkd" for _, name in _entries(app)}
    seen = {key for key, _ in _entries(app)}
    for impl in reversed(pm.hook.vlkd_register_commands.get_hookimpls()):  # registration order
        try:
            impl.function(app=app)
        except Exception as exc:  # a third party's code: anything may be raised
            if impl.plugin_name in BUILTIN_MODULES:
                raise
            warn_broken(impl.plugin_name, *distribution_of(pm, impl.plugin), f"{type(exc).__name__}: {exc}")
            continue
        dist = " ".join(distribution_of(pm, impl.plugin))
        for key, name in _entries(app):
            if key in seen:
                continue
            seen.add(key)
            if name in owners:
                raise PluginError(
                    f"command 'vlkd {name}' is registered twice: by {owners[name]} and by {dist}; "
                    "uninstall one of them"
                )
            owners[name] = dist


def command_names(app: typer.Typer) -> list[str]:
    """The names of ``app``'s commands and groups, in the order they were added."""
    return [name for _, name in _entries(app)]


def _entries(app: typer.Typer) -> list[tuple[int, str]]:
    """(identity, name) of each command and group of ``app``."""
    entries = []
    for command in app.registered_commands:
        callback = command.callback
        name = command.name or (callback.__name__.replace("_", "-") if callback else "?")
        entries.append((id(command), name))
    for group in app.registered_groups:
        entries.append((id(group), group.name or group.typer_instance.info.name or "?"))
    return entries
