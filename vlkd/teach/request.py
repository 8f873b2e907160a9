"""What is sent for one image: its bytes (the file as it is, or at the student's size for
``image: student``), its rendered prompt, and the teacher's extra prompt values (kept in the
response cache, so a re-run does not redo them)."""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vlkd.core.records import ImageRecord, sha256_bytes
from vlkd.core.student import student_of
from vlkd.teach.cache import CacheWriter, cache_key
from vlkd.teach.calls import ItemFailed
from vlkd.teach.parsing import PAIRS_SCHEMA
from vlkd.teach.prompts import PromptPack, PromptSet
from vlkd.teach.teacher import Teacher, TeachRequest

if TYPE_CHECKING:
    from vlkd.core.context import StageContext


class RequestMaker:
    """A teacher's requests, one image at a time (``variables``: per-image prompt values of the
    caller, the questions a verify check asks again)."""

    def __init__(
        self,
        ctx: StageContext,
        teacher: Teacher,
        pack: PromptPack | None,
        writer: CacheWriter,
        ready: Callable[[], Awaitable[None]],
        variables: Callable[[ImageRecord], dict[str, str]] | None = None,
    ):
        self.ctx = ctx
        self.teacher = teacher
        self.opts = teacher.options
        self.writer = writer
        #: waits for the teacher's start, before asking it for prompt values
        self.ready = ready
        self.variables = variables
        self.prompts = PromptSet(self.opts, pack) if teacher.uses_prompt else None
        #: ``image: student``: the image is sent at the size the student sees (the seed's student
        #: without a ``student:`` section); its (family, min, max) pixels are part of the cache key
        self.student = (
            student_of(ctx.run.recipe) if getattr(self.opts, "image", "original") == "student" else None
        )
        self.student_limits = (
            (self.student.family.name, self.student.image_min_pixels, self.student.image_max_pixels)
            if self.student is not None
            else None
        )

    async def request_for(self, image: ImageRecord) -> tuple[TeachRequest, str, str | None]:
        """The request, the image's hash and the template hash."""
        data, mime, size = self.image_bytes(image)
        request = TeachRequest(
            image=image,
            image_bytes=data,
            mime=mime,
            output=self.opts.output,
            schema=PAIRS_SCHEMA if self.opts.output == "json" else None,
            sent_size=size,
        )
        template_hash = None
        image_hash = sha256_bytes(data)
        if self.prompts is not None:
            extra = await self.prompt_variables(request, image_hash)
            if self.variables is not None:
                extra = {**extra, **self.variables(image)}
            request.system, request.user, template_hash = self.prompts.render(image, extra)
        return request, image_hash, template_hash

    def image_bytes(self, image: ImageRecord) -> tuple[bytes, str, tuple[int, int] | None]:
        """The image as sent (its bytes, its type, its size when not the record's)."""
        try:
            data = Path(image.path).read_bytes()
        except OSError as exc:
            raise ItemFailed(f"cannot read image: {image.path}: {exc.strerror or exc}") from None
        mime = mimetypes.guess_type(image.path)[0] or f"image/{(image.format or 'png').lower()}"
        if self.student_limits is None:
            return data, mime, None
        size = self.student_size(image.width, image.height)
        if size == (image.width, image.height):
            return data, mime, None
        from vlkd.images.decode import BadImage
        from vlkd.images.files import resized_png

        try:
            return resized_png(data, size, name=image.path), "image/png", size
        except BadImage as exc:
            raise ItemFailed(exc.reason) from None

    def student_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the student's processor resizes an image to (``image: student``)."""
        student = self.student
        assert student is not None
        try:
            return student.family.resize(width, height, student.image_min_pixels, student.image_max_pixels)
        except ValueError:  # an aspect ratio the student refuses: preprocess reports it
            return width, height

    async def prompt_variables(self, request: TeachRequest, image_hash: str) -> dict[str, str]:
        """The teacher's extra prompt values (OCR text...), kept in the cache: a re-run does not redo them."""
        if not self.teacher.has_prompt_variables():
            return {}
        key = cache_key(
            image_sha256=image_hash,
            prompt_hash=None,
            plugin=self.opts.plugin,
            model="prompt-variables",
            params=self.teacher.generation_params(),
        )
        cached = self.writer.cache.get(key)
        if cached is not None:
            return cached
        await self.ready()
        values = await self.teacher.prompt_variables(request)
        self.writer.later(key, values)
        return values
