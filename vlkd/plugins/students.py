"""Built-in student families (``vlkd student families`` lists them; ``vlkd.students`` holds them)."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_students(register):
    from vlkd.students.gemma3 import Gemma3
    from vlkd.students.qwen2_5_vl import Qwen2_5_VL
    from vlkd.students.qwen2_vl import Qwen2VL
    from vlkd.students.qwen3_5 import Qwen3_5
    from vlkd.students.qwen3_vl import Qwen3VL

    for family in (Qwen2VL, Qwen2_5_VL, Qwen3VL, Qwen3_5, Gemma3):
        register(family.name, family)
