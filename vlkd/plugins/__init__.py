"""Built-in plugins, one sub-package per stage kind.

Each module listed here implements registration hooks of ``vlkd.core.hookspecs`` and is
registered exactly like a third-party plugin found through the ``vlkd`` entry-point group.
Plugin modules import only light libraries at import time; heavy ones are imported inside
the methods that use them.
"""

BUILTIN_PLUGINS: tuple[str, ...] = (
    "vlkd.plugins.ingest",
    "vlkd.plugins.preprocess",
    "vlkd.plugins.teach",
    "vlkd.plugins.verify",
    "vlkd.plugins.review",
    "vlkd.plugins.split",
    "vlkd.plugins.formats",
    "vlkd.plugins.train",
    "vlkd.plugins.evaluate",
    "vlkd.plugins.report",
    "vlkd.plugins.students",
)
