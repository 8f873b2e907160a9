"""vlkd: declarative knowledge distillation into vision-language models.

Importing this package is cheap on purpose: no plugin is loaded and nothing heavy is
imported until a command needs it (see ``vlkd.core.plugins.get_plugin_manager``).
"""

__version__ = "0.1.0"
