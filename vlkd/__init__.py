"""vlkd: declarative knowledge distillation into vision-language models.

Importing this package is cheap on purpose: no plugin is loaded and nothing heavy is
imported until a command needs it (see ``vlkd.core.registry.get_plugin_manager``).
Plugin authors import from ``vlkd.api``; ``vlkd.hookimpl`` is the same hook marker.
"""

from typing import Any

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (setuptools dynamic)


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from vlkd.core.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'vlkd' has no attribute '{name}'")
