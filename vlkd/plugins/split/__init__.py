"""Built-in split plugins."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_splitters(register):
    from vlkd.plugins.split.by_image import ByImageSplit

    register("by_image", ByImageSplit)
