"""The pluggy plugin manager, kept light: pluggy and the hook specs, nothing else.

The CLI builds one at start-up to collect commands (``vlkd_register_commands``) without
importing pydantic or any stage plugin; ``vlkd.core.registry`` builds one with the built-in
stage plugins. Both load third-party plugins the same way:

- the ``vlkd`` entry-point group, unless ``VLKD_DISABLE_PLUGIN_AUTOLOAD=1``;
- ``VLKD_PLUGINS``: extra importable plugin modules, comma-separated, e.g. a team's local
  plugin kept beside its recipes: ``VLKD_PLUGINS=our_plugins.stamp vlkd run r.yaml``.

A third-party plugin that cannot be loaded (its import raises, a dependency is missing, a hook
vlkd does not have) does not take every command down with it: vlkd says so in one line naming
the distribution, its version and the way out, and goes on without it. ``VLKD_BLOCK_PLUGINS``
(entry-point or distribution names, comma-separated) leaves chosen ones out.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Iterable
from typing import Any

import pluggy

from vlkd.core import hookspecs
from vlkd.core.errors import PluginError

AUTOLOAD_ENV = "VLKD_DISABLE_PLUGIN_AUTOLOAD"
MODULES_ENV = "VLKD_PLUGINS"
BLOCK_ENV = "VLKD_BLOCK_PLUGINS"


def plugin_manager(
    builtin_modules: Iterable[str] = (), *, autoload: bool | None = None
) -> pluggy.PluginManager:
    """A fresh plugin manager: the hook specs, ``builtin_modules``, then third-party plugins."""
    pm = pluggy.PluginManager("vlkd")
    pm.add_hookspecs(hookspecs)
    for module_name in builtin_modules:
        pm.register(importlib.import_module(module_name), name=module_name)
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in ("1", "true", "yes")
    if autoload:
        _load_entry_points(pm)
    for module_name in filter(None, (m.strip() for m in os.environ.get(MODULES_ENV, "").split(","))):
        if pm.get_plugin(module_name) is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise PluginError(
                    f"{MODULES_ENV}: cannot import plugin module '{module_name}': {exc}"
                ) from None
            pm.register(module, name=module_name)
    while True:
        try:
            pm.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin)
            dist = _entry_point_dist(pm, exc.plugin)
            if name is None or dist is None:
                raise PluginError(
                    f"plugin {exc.plugin!r} implements a hook vlkd does not have: {exc}"
                ) from None
            pm.set_blocked(name)
            warn_broken(
                name, dist.metadata["Name"] or name, dist.version, f"it has a hook vlkd lacks ({exc})"
            )
    return pm


def _blocked_names() -> set[str]:
    return {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """pluggy's own loading of the ``vlkd`` entry points, one at a time, so that one that
    raises is named and left out instead of ending the command."""
    blocked = _blocked_names()
    for dist in list(importlib.metadata.distributions()):
        for ep in dist.entry_points:
            if ep.group != "vlkd" or pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            if ep.name in blocked or (dist.metadata["Name"] or "") in blocked:
                pm.set_blocked(ep.name)
                continue
            try:
                pm.load_setuptools_entrypoints("vlkd", name=ep.name)
            except Exception as exc:  # a third party's import: anything may be raised
                pm.set_blocked(ep.name)
                warn_broken(
                    ep.name, dist.metadata["Name"] or ep.name, dist.version, f"{type(exc).__name__}: {exc}"
                )


def _entry_point_dist(pm: pluggy.PluginManager, plugin: object) -> Any:
    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return dist
    return None


_warned: set[tuple[str, str]] = set()


def warn_broken(name: str, project: str, version: str, why: str) -> None:
    """One line on stderr for a plugin left out, once per process (the CLI builds more than
    one plugin manager)."""
    if (project, name) in _warned:
        return
    _warned.add((project, name))
    why = " ".join(why.split())
    sys.stderr.write(
        f"warning: plugin '{name}' of {project} {version} cannot be loaded: {why}; vlkd goes on "
        f"without it (fix or uninstall {project}, or leave it out: {BLOCK_ENV}={name}, or "
        f"{AUTOLOAD_ENV}=1 for no third-party plugin)\n"
    )


def plugin_in_traceback(pm: pluggy.PluginManager, hook: str, exc: BaseException) -> object | None:
    """The plugin whose ``hook`` implementation raised ``exc`` (its frame is in the traceback)."""
    codes = {impl.function.__code__: impl.plugin for impl in getattr(pm.hook, hook).get_hookimpls()}
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return codes[tb.tb_frame.f_code]
        tb = tb.tb_next
    return None


def call_hook(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> None:
    """Call a notification hook (``vlkd_stage_start``, ...): a plugin's exception becomes a
    ``PluginError`` naming the plugin, its distribution and the way out."""
    from vlkd.core.errors import VlkdError

    try:
        getattr(pm.hook, hook)(**kwargs)
    except VlkdError:
        raise
    except Exception as exc:
        plugin = plugin_in_traceback(pm, hook, exc)
        name = (pm.get_name(plugin) if plugin is not None else None) or "NAME"
        who = f"'{name}' ({' '.join(distribution_of(pm, plugin))})" if plugin is not None else "a plugin"
        raise PluginError(
            f"plugin {who} failed in {hook}: {type(exc).__name__}: {' '.join(str(exc).split())} "
            f"(fix or uninstall it, or leave it out: {BLOCK_ENV}={name})"
        ) from exc


def distribution_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str]:
    """(distribution, version) of a registered plugin: ``vlkd`` for the built-ins, ``local``
    for one registered by hand or through ``VLKD_PLUGINS``."""
    from vlkd import __version__
    from vlkd.plugins import BUILTIN_MODULES

    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return dist.project_name, dist.version
    name = pm.get_name(plugin) or "unknown"
    if name in BUILTIN_MODULES:
        return "vlkd", __version__
    return name, "local"
