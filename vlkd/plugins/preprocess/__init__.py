"""Built-in preprocess steps (the ``preprocess`` stage applies them in order, see
``vlkd.images.preprocess_driver``)."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_preprocessors(register):
    from vlkd.api import renamed
    from vlkd.plugins.preprocess.dedup_near import DedupNear
    from vlkd.plugins.preprocess.exif_transpose import ExifTranspose
    from vlkd.plugins.preprocess.filter import Filter
    from vlkd.plugins.preprocess.resize import Resize
    from vlkd.plugins.preprocess.student_resize import StudentResize
    from vlkd.plugins.preprocess.to_rgb import ToRGB

    register("exif_transpose", ExifTranspose)
    register("to_rgb", ToRGB)
    register("resize", Resize)
    register("student_resize", StudentResize)
    register(
        "qwen_smart_resize", renamed("student_resize", "its sizes come from the recipe's student: section")
    )
    register("dedup_near", DedupNear)
    register("filter", Filter)
