"""A teacher: one question per image, answered from the image's file name.

It shows the teacher contract: turn one image into one response. The core does the rest for every
teacher: concurrency, retries, the response cache, cost, resume (``teach: {plugin: filename}``).
"""

from __future__ import annotations

from pathlib import PurePath

from pydantic import Field

from vlkd.api import Teacher, TeacherOptions, TeachRequest, TeachResponse, hookimpl


class FilenameOptions(TeacherOptions):
    question: str = Field("What is the name of this file?", description="the question asked of every image")


class FilenameTeacher(Teacher):
    """Answers with the image's file name (no model, no key: an example teacher)."""

    Options = FilenameOptions
    options: FilenameOptions
    uses_prompt = False  # it sends no prompt: the recipe needs no prompt files

    def estimate_tokens(self, request: TeachRequest) -> tuple[int, int]:
        return 0, 0

    def respond_sync(self, request: TeachRequest) -> TeachResponse:
        image = request.image  # the record: where the file came from, not the preprocessed copy
        stem = PurePath(image.sources[0].path if image.sources else image.path).stem
        return TeachResponse(pairs=[{"question": self.options.question, "answer": stem}], model="filename")


@hookimpl
def vlkd_register_teachers(register):
    register("filename", FilenameTeacher)
