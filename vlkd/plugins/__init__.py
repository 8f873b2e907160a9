"""Built-in plugins, one sub-package per stage kind.

Each module listed here implements registration hooks of ``vlkd.core.hookspecs`` and is
registered exactly like a third-party plugin found through the ``vlkd`` entry-point group.
Plugin modules import only light libraries at import time; heavy ones are imported inside
the methods that use them.
"""

#: every module that ships with vlkd and implements hooks, in registration order, with what it
#: registers: ``stages`` (stage plugins and student families: the registry's plugin manager) or
#: ``commands`` (the CLI's, built at every start, so it imports no stage plugin). The one list:
#: the views below and ``plugin_manager.distribution_of`` ("vlkd", not "local") derive from it.
BUILTINS: tuple[tuple[str, str], ...] = (
    ("vlkd.plugins.ingest", "stages"),
    ("vlkd.plugins.preprocess", "stages"),
    ("vlkd.plugins.teach", "stages"),
    ("vlkd.plugins.verify", "stages"),
    ("vlkd.plugins.review", "stages"),
    ("vlkd.plugins.split", "stages"),
    ("vlkd.plugins.formats", "stages"),
    ("vlkd.plugins.train", "stages"),
    ("vlkd.plugins.evaluate", "stages"),
    ("vlkd.plugins.report", "stages"),
    ("vlkd.plugins.students", "stages"),
    ("vlkd.commands.student", "commands"),
    ("vlkd.commands.review", "commands"),
    ("vlkd.llamafactory.command", "commands"),
    ("vlkd.commands.report", "commands"),
    ("vlkd.commands.score", "commands"),
    ("vlkd.commands.teach", "commands"),
    ("vlkd.commands.predict", "commands"),
    ("vlkd.commands.export", "commands"),
)
BUILTIN_MODULES: frozenset[str] = frozenset(module for module, _ in BUILTINS)
BUILTIN_PLUGINS: tuple[str, ...] = tuple(module for module, role in BUILTINS if role == "stages")
COMMAND_MODULES: tuple[str, ...] = tuple(module for module, role in BUILTINS if role == "commands")
