"""Built-in evaluate plugins."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_evaluators(register):
    from vlkd.plugins.evaluate.student import StudentEvaluator

    register("student", StudentEvaluator)
