"""The teach stage: the :class:`Teacher` plugin API and the services every teacher gets.

``driver`` runs the stage (concurrency, rate limits, retries, cache, budget, resume);
``teacher`` is the plugin API; ``options`` the shared option models; ``parsing`` reads CSV
and JSON answers; ``prompts`` renders prompt files. Importing this package is cheap.
"""

from vlkd.teach.options import APITeacherOptions, Price, PromptOptions, TeacherOptions
from vlkd.teach.teacher import (
    FatalError,
    ItemError,
    Teacher,
    TeacherError,
    TeachRequest,
    TeachResponse,
    TransientError,
    http_error,
    retry_after_seconds,
)

__all__ = [
    "APITeacherOptions",
    "FatalError",
    "ItemError",
    "Price",
    "PromptOptions",
    "TeachRequest",
    "TeachResponse",
    "Teacher",
    "TeacherError",
    "TeacherOptions",
    "TransientError",
    "http_error",
    "retry_after_seconds",
]
