"""The pluggy plugin manager, kept light: pluggy and the hook specs, nothing else.

The CLI builds one at start-up to collect commands (``vlkd_register_commands``) without
importing pydantic or any stage plugin; ``vlkd.core.registry`` builds one with the built-in
stage plugins. Both load third-party plugins the same way:

- the ``vlkd`` entry-point group, unless ``VLKD_DISABLE_PLUGIN_AUTOLOAD=1``;
- ``VLKD_PLUGINS``: extra importable plugin modules, comma-separated, e.g. a team's local
  plugin kept beside its recipes: ``VLKD_PLUGINS=our_plugins.stamp vlkd run r.yaml``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

import pluggy

from vlkd.core import hookspecs
from vlkd.core.errors import PluginError

AUTOLOAD_ENV = "VLKD_DISABLE_PLUGIN_AUTOLOAD"
MODULES_ENV = "VLKD_PLUGINS"


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
        pm.load_setuptools_entrypoints("vlkd")
    for module_name in filter(None, (m.strip() for m in os.environ.get(MODULES_ENV, "").split(","))):
        if pm.get_plugin(module_name) is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise PluginError(
                    f"{MODULES_ENV}: cannot import plugin module '{module_name}': {exc}"
                ) from None
            pm.register(module, name=module_name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements a hook vlkd does not have: {exc}") from None
    return pm


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
