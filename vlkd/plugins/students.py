"""Built-in student families (``vlkd student families`` lists them; ``vlkd.students`` holds them)."""

from vlkd.core.hookspecs import hookimpl


@hookimpl
def vlkd_register_students(register):
    from vlkd.students.qwen2_vl import Qwen2VL

    for family in (Qwen2VL,):
        register(family.name, family)
