"""The JSON Schema of recipes, built from the installed plugins' option models.

Editors use it through the first line of a recipe::

    # yaml-language-server: $schema=../schemas/recipe.schema.json
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from vlkd.core.executor import ExecutorOptions
from vlkd.core.options import PluginOptions
from vlkd.core.recipe import settings_model
from vlkd.core.registry import Registry
from vlkd.core.stages import STAGE_KINDS
from vlkd.core.student import StudentOptions

SCHEMA_ID = "https://vlkd.dev/schemas/recipe.schema.json"


def _tagged(name: str, options: type[PluginOptions]) -> type[PluginOptions]:
    """A copy of ``options`` whose ``plugin`` field is ``Literal[name]`` (for a discriminated union)."""
    title = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
    return create_model(
        f"{title}{options.__name__}",
        __base__=options,
        plugin=(Literal[name], Field(description=f"the '{name}' plugin")),
    )


def recipe_json_schema(registry: Registry) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": (
            str,
            Field(
                description="Recipe name; names the run directory runs/<name>/",
                pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            ),
        ),
        "extends": (
            str | list[str] | None,
            Field(
                default=None,
                description=("Base recipe(s), relative to this file: maps merge deeply, lists replace"),
            ),
        ),
        "description": (str | None, Field(default=None)),
        "student": (
            StudentOptions | str | None,
            Field(
                default=None,
                description="The student every stage prepares for: model (hub id, directory, "
                "tiny:FAMILY), family, pixel limits, cutoff_len, template; or just the model",
            ),
        ),
        "executor": (
            ExecutorOptions | Literal["local", "ray"] | None,
            Field(
                default=None,
                description="Where the stages' items run: local (this machine, the default) or ray "
                "(tasks on a Ray cluster: address, num_cpus, max_retries, chunk); vlkd run --executor wins",
            ),
        ),
    }
    for kind in STAGE_KINDS:
        names = registry.names(kind.name)
        if not names:
            continue
        models = [_tagged(n, registry.get(kind.name, n).cls.Options) for n in names]
        union: Any = Union[tuple(models)]  # noqa: UP007 (a union built from a runtime tuple)
        step: Any = models[0] if len(models) == 1 else Annotated[union, Field(discriminator="plugin")]
        if kind.multi:
            settings = settings_model(kind)
            value: Any = list[step]
            if settings is not None:
                long_form = create_model(
                    f"{kind.name.capitalize()}Stage",
                    __base__=settings,
                    steps=(list[step], Field(description="the steps, in order")),
                )
                value = list[step] | long_form
        else:
            value = step
        fields[kind.name] = (value | None, Field(default=None, description=f"the {kind.name} stage"))
    model = create_model("Recipe", **fields)
    schema = TypeAdapter(model).json_schema(mode="validation")
    schema["properties"].pop("extends", None)
    schema["properties"]["extends"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "Base recipe(s), relative to this file: maps merge deeply, lists replace",
    }
    schema["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "vlkd recipe",
        **{k: v for k, v in schema.items() if k != "title"},
    }
