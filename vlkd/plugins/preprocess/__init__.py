"""Built-in preprocess steps (the ``preprocess`` stage applies them in order, see
``vlkd.core.preprocess_driver``)."""

from vlkd.core.hookspecs import hookimpl


@hookimpl
def vlkd_register_preprocessors(register):
    from vlkd.plugins.preprocess.dedup_near import DedupNear
    from vlkd.plugins.preprocess.exif_transpose import ExifTranspose
    from vlkd.plugins.preprocess.filter import Filter
    from vlkd.plugins.preprocess.qwen_smart_resize import QwenSmartResize
    from vlkd.plugins.preprocess.resize import Resize
    from vlkd.plugins.preprocess.to_rgb import ToRGB

    register("exif_transpose", ExifTranspose)
    register("to_rgb", ToRGB)
    register("resize", Resize)
    register("qwen_smart_resize", QwenSmartResize)
    register("dedup_near", DedupNear)
    register("filter", Filter)
