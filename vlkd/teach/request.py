"""What is sent for one image: its bytes (the file as it is, or at the student's size for
``image: student``), its rendered prompt, and the teacher's extra prompt values (kept in the
response cache, so a re-run does not redo them)."""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.core.records import ImageRecord, sha256_bytes
from vlkd.teach.cache import CacheWriter, cache_key
from vlkd.teach.calls import ItemFailed
from vlkd.teach.parsing import PAIRS_SCHEMA
from vlkd.teach.prompts import PromptPack, PromptSet
from vlkd.teach.teacher import Teacher, TeachRequest

if TYPE_CHECKING:
    from vlkd.core.context import StageContext


def student_family(ctx: StageContext) -> Any:
    """The recipe's student family; without a ``student:`` section, the seed's student (Qwen2-VL)."""
    student = getattr(ctx.run.recipe, "student", None)
    if student is not None:
        return student.family
    from vlkd.students.qwen2_vl import Qwen2VL

    return Qwen2VL()


def student_limits(ctx: StageContext) -> tuple[str, int, int]:
    """The student's (family, min_pixels, max_pixels): the recipe's ``student:`` section, else
    :func:`student_family` at LLaMA-Factory's default limits (train options hold none any more)."""
    student = getattr(ctx.run.recipe, "student", None)
    if student is not None:
        return student.family.name, student.image_min_pixels, student.image_max_pixels
    from vlkd.llamafactory.images import IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS

    return student_family(ctx).name, IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS


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
        #: ``image: student``: the student's (min, max) pixels, the image is sent at its size
        self.student_limits = (
            student_limits(ctx) if getattr(self.opts, "image", "original") == "student" else None
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
        _, min_pixels, max_pixels = self.student_limits or ("", 0, 0)
        try:
            return student_family(self.ctx).resize(width, height, min_pixels, max_pixels)
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
