"""Built-in evaluate plugins."""

from vlkd.core.hookspecs import hookimpl


@hookimpl
def vlkd_register_evaluators(register):
    from vlkd.plugins.evaluate.student import StudentEvaluator

    register("student", StudentEvaluator)
