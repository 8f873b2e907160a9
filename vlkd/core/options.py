"""Base classes for plugin option models.

A plugin declares its options as a pydantic model derived from :class:`PluginOptions`.
Unknown keys are errors (``extra="forbid"``); secrets are ``SecretStr`` so they are
redacted wherever the resolved recipe is written (manifest, logs, fingerprints).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonDict
from pydantic_core import CoreSchema

#: ``json_schema_extra`` of an option that changes how a stage runs, not what it writes
#: (``concurrency``, ``workers``, timeouts): left out of the stage's fingerprint, so changing
#: it neither re-runs the stage nor the ones after it
RUN_ONLY: JsonDict = {"fingerprint": False}


class Options(BaseModel):
    """Strict options: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class PluginOptions(Options):
    """Options of one stage section; ``plugin`` names the plugin and selects this model."""

    plugin: str = Field(description="Name of the plugin that runs this stage")


OnError = Literal["skip", "fail"]

T = TypeVar("T")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | os.PathLike) else value


class _OneOrManySchema:
    """JSON Schema of ``OneOrMany``: the item itself or an array of items."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        schema = handler(core_schema)
        if schema.get("type") != "array" or "items" not in schema:
            return schema
        meta = {k: schema.pop(k) for k in ("title", "description", "default") if k in schema}
        return {"anyOf": [schema["items"], schema], **meta}


#: a list in Python; in a recipe one value or a list (``inputs: images/`` or ``inputs: [a/, b/]``)
OneOrMany = Annotated[list[T], BeforeValidator(_as_list), _OneOrManySchema()]


# -- paths in recipes --------------------------------------------------------------------
#
# A relative path in a recipe is relative to the file that wrote it: a base recipe shared
# by several brands can name its prompt files next to itself. Before validation, every
# string read from a file is wrapped in ``SourcedStr`` carrying that file's directory;
# ``RecipePath`` resolves against it (``--set`` values resolve against the working directory).


class SourcedStr(str):
    """A string from a recipe file that remembers the directory of that file."""

    base_dir: str

    def __new__(cls, value: str, base_dir: str):
        obj = super().__new__(cls, value)
        obj.base_dir = base_dir
        return obj

    def __reduce__(self):
        return (str, (str(self),))


def _resolve(value: object) -> object:
    if isinstance(value, str | os.PathLike):
        path = Path(os.path.expanduser(os.fspath(value)))
        if not path.is_absolute():
            path = Path(getattr(value, "base_dir", os.getcwd())) / path
        return Path(os.path.normpath(path))
    return value


def _must_exist(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"no such file or directory: {path}")
    return path


#: a path resolved against the recipe file that names it
RecipePath = Annotated[Path, BeforeValidator(_resolve)]
#: the same, and it must exist when the recipe is validated
ExistingPath = Annotated[Path, BeforeValidator(_resolve), AfterValidator(_must_exist)]
