"""Image files as the stages after ingest use them: pixels, a size, a thumbnail, a resized copy.

Ingest has already decided which files are images (:mod:`vlkd.images.decode`, with its own
``max_pixels``); later stages open the record's ``path`` through these four functions, which
decode through that same :func:`~vlkd.images.decode.open_image`:

- :func:`open_as`: the decoded pixels in one mode (``RGB`` for the student, the teacher and
  OCR), converted with Pillow's plain ``convert`` as LLaMA-Factory does, so training and
  evaluation see the pixels either trainer sees; ``upright=True`` turns them as the EXIF
  orientation says (OCR: text reads the same either way, so it may);
- :func:`image_size`: width and height from the header, or after a full decode (``decode=True``,
  the pre-flight's "LLaMA-Factory can read it");
- :func:`thumbnail`: a small JPEG or PNG for the report and the review sheet;
- :func:`resized_png`: the copy sent to a teacher at the student's size (its bytes key the
  response cache: same input, same bytes).

Every failure is :class:`~vlkd.images.decode.BadImage` (a ``SkipItem``) whose reason names the
file. The pixel guard is Pillow's own refusal (:data:`TRUSTED_MAX_PIXELS`: twice its warning
limit, where it raises ``DecompressionBombError``), as these sites had before. EXIF orientation
is applied only when asked: the ``exif_transpose`` preprocess step writes an upright copy for
the student, and neither trainer turns pixels by EXIF, so doing it by default here would make
evaluation differ from training.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING

from vlkd.images.decode import PILLOW_MAX_PIXELS, BadImage, open_image

if TYPE_CHECKING:
    from PIL import Image

#: where Pillow itself refuses an image (``DecompressionBombError``): the guard for files that an
#: earlier stage let in, which may have raised ingest's ``max_pixels`` for them
TRUSTED_MAX_PIXELS = 2 * PILLOW_MAX_PIXELS

Source = str | os.PathLike[str] | bytes


def open_as(
    source: Source,
    mode: str = "RGB",
    *,
    name: str | os.PathLike[str] | None = None,
    draft: tuple[int, int] | None = None,
    max_pixels: int | None = TRUSTED_MAX_PIXELS,
    upright: bool = False,
) -> Image.Image:
    """The decoded image in ``mode`` (``source``: a path, or the file's bytes named by ``name``).

    ``draft`` lets a JPEG decode reduced towards that box (see :func:`~vlkd.images.decode.load_image`);
    ``upright`` turns the pixels as the file's EXIF orientation says.
    """
    image, _ = open_image(source, _name(source, name), max_pixels=max_pixels, draft=draft)
    try:
        image = image if image.mode == mode else image.convert(mode)
    except (OSError, ValueError) as exc:
        raise BadImage(f"corrupt image: {_name(source, name)}: {image.mode} to {mode}: {exc}") from None
    if upright:
        from PIL import ImageOps

        image = ImageOps.exif_transpose(image)
    return image


def image_size(
    source: Source,
    *,
    decode: bool = False,
    name: str | os.PathLike[str] | None = None,
    max_pixels: int | None = TRUSTED_MAX_PIXELS,
) -> tuple[int, int]:
    """``(width, height)`` from the header; with ``decode`` only once every pixel decoded."""
    image, _ = open_image(source, _name(source, name), max_pixels=max_pixels, load=decode)
    return image.size


def thumbnail(
    source: Source,
    size: int,
    *,
    format: str = "JPEG",
    quality: int = 80,
    draft: bool = False,
) -> tuple[bytes, int, int]:
    """``(encoded, width, height)``: the image scaled to fit ``size`` x ``size`` px, as RGB
    ``format`` (``quality`` for JPEG); ``draft`` decodes a JPEG at about twice that size first."""
    image = open_as(source, draft=(size * 2, size * 2) if draft else None)
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, format, **({"quality": quality} if format == "JPEG" else {}))
    return buf.getvalue(), image.width, image.height


def resized_png(data: bytes, size: tuple[int, int], *, name: str | os.PathLike[str] | None = None) -> bytes:
    """``data`` (an encoded image) as RGB resized to ``size`` (bicubic), encoded as PNG."""
    from PIL import Image

    out = io.BytesIO()
    open_as(data, name=name).resize(size, Image.Resampling.BICUBIC).save(out, "PNG")
    return out.getvalue()


def _name(source: Source, name: str | os.PathLike[str] | None) -> str | os.PathLike[str]:
    """What messages call the image: ``name``, else its path (never the bytes themselves)."""
    if name is not None:
        return name
    return "image bytes" if isinstance(source, bytes) else source
