"""Which libraries each student backend imports, checked before a stage loads one."""

from __future__ import annotations

from vlkd.api import StageError

#: what each student backend imports; checked when a stage runs (a class-level ``requires``
#: cannot depend on the options)
BACKEND_REQUIRES = {
    "transformers": (("torch", "transformers", "peft"), "train"),
    "openai": (("openai",), "openai"),
    "ray_llm": (("ray",), "ray"),
}


def check_backend(stage: str, backend: str) -> None:
    """A backend whose libraries are missing stops ``stage`` with the install command."""
    import importlib.util

    modules, extra = BACKEND_REQUIRES[backend]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise StageError(
            f"{stage} backend '{backend}' needs {', '.join(missing)}: pip install \"vlkd[{extra}]\""
        )
