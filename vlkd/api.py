"""The public surface for plugin authors: everything a plugin needs, from one module.

::

    from vlkd.api import PluginOptions, Preprocessor, hookimpl

Importing this module is cheap (pluggy only): every other name is imported the first time
it is used, so a plugin's command-line code can import ``hookimpl`` from here at CLI
start-up without loading pydantic. Names not listed here are internal and may change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vlkd.core.hookspecs import Register, hookimpl

if TYPE_CHECKING:  # what type checkers and editors see; at run time the names load lazily
    from vlkd.core.context import RunInfo, StageContext, Usage
    from vlkd.core.cpus import usable_cpus
    from vlkd.core.errors import (
        PluginError,
        RecipeError,
        RunInterrupted,
        SkipItem,
        StageError,
        StageWaiting,
        VlkdError,
    )
    from vlkd.core.options import (
        RUN_ONLY,
        ExistingPath,
        OneOrMany,
        OnError,
        Options,
        PluginOptions,
        RecipePath,
    )
    from vlkd.core.plugin import Plugin, Preprocessor, StagePlugin
    from vlkd.core.records import Flag, ImageRecord, Provenance, QARecord, Record, ReviewStatus, Source, Split
    from vlkd.core.student import Student
    from vlkd.core.teach import (
        APITeacherOptions,
        FatalError,
        Price,
        PromptOptions,
        Teacher,
        TeacherError,
        TeacherOptions,
        TeachRequest,
        TeachResponse,
        TransientError,
        http_error,
        retry_after_seconds,
    )
    from vlkd.core.verify import Findings, Verifier, VerifierOptions
    from vlkd.students.family import StudentFamily

_LAZY: dict[str, str] = {
    # plugin base classes and what a stage sees
    "Plugin": "vlkd.core.plugin",
    "StagePlugin": "vlkd.core.plugin",
    "Preprocessor": "vlkd.core.plugin",
    "StageContext": "vlkd.core.context",
    "Usage": "vlkd.core.context",
    "RunInfo": "vlkd.core.context",
    "usable_cpus": "vlkd.core.cpus",
    # option models and types
    "Options": "vlkd.core.options",
    "PluginOptions": "vlkd.core.options",
    "RecipePath": "vlkd.core.options",
    "ExistingPath": "vlkd.core.options",
    "OneOrMany": "vlkd.core.options",
    "OnError": "vlkd.core.options",
    "RUN_ONLY": "vlkd.core.options",
    # records
    "Record": "vlkd.core.records",
    "ImageRecord": "vlkd.core.records",
    "QARecord": "vlkd.core.records",
    "Flag": "vlkd.core.records",
    "Provenance": "vlkd.core.records",
    "Source": "vlkd.core.records",
    "ReviewStatus": "vlkd.core.records",
    "Split": "vlkd.core.records",
    # students
    "StudentFamily": "vlkd.students.family",
    "Student": "vlkd.core.student",
    # errors
    "VlkdError": "vlkd.core.errors",
    "RecipeError": "vlkd.core.errors",
    "PluginError": "vlkd.core.errors",
    "StageError": "vlkd.core.errors",
    "SkipItem": "vlkd.core.errors",
    "RunInterrupted": "vlkd.core.errors",
    "StageWaiting": "vlkd.core.errors",
    # teachers
    "Teacher": "vlkd.core.teach",
    "TeachRequest": "vlkd.core.teach",
    "TeachResponse": "vlkd.core.teach",
    "TeacherOptions": "vlkd.core.teach",
    "APITeacherOptions": "vlkd.core.teach",
    "PromptOptions": "vlkd.core.teach",
    "Price": "vlkd.core.teach",
    "TeacherError": "vlkd.core.teach",
    "TransientError": "vlkd.core.teach",
    "FatalError": "vlkd.core.teach",
    "http_error": "vlkd.core.teach",
    "retry_after_seconds": "vlkd.core.teach",
    # verify checks
    "Verifier": "vlkd.core.verify",
    "VerifierOptions": "vlkd.core.verify",
    "Findings": "vlkd.core.verify",
}

__all__ = [
    "RUN_ONLY",
    "APITeacherOptions",
    "ExistingPath",
    "FatalError",
    "Findings",
    "Flag",
    "ImageRecord",
    "OnError",
    "OneOrMany",
    "Options",
    "Plugin",
    "PluginError",
    "PluginOptions",
    "Preprocessor",
    "Price",
    "PromptOptions",
    "Provenance",
    "QARecord",
    "RecipeError",
    "RecipePath",
    "Record",
    "Register",
    "ReviewStatus",
    "RunInfo",
    "RunInterrupted",
    "SkipItem",
    "Source",
    "Split",
    "StageContext",
    "StageError",
    "StagePlugin",
    "StageWaiting",
    "Student",
    "StudentFamily",
    "TeachRequest",
    "TeachResponse",
    "Teacher",
    "TeacherError",
    "TeacherOptions",
    "TransientError",
    "Usage",
    "Verifier",
    "VerifierOptions",
    "VlkdError",
    "hookimpl",
    "http_error",
    "retry_after_seconds",
    "usable_cpus",
]


assert set(__all__) == {"Register", "hookimpl", *_LAZY}  # one list of the public names


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vlkd.api' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
