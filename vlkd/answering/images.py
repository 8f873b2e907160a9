"""Student-side image preparation, the same as in training.

Both trainers hand the processor RGB images. LLaMA-Factory's multimodal plugin first scales
an image into ``[image_min_pixels, image_max_pixels]`` keeping its aspect ratio, plus what
its plugin for the student's family adds (``prescale=True`` here: the family's
``prepare_image``); the ``peft`` trainer leaves that to the processor with the same bounds.
The evaluate stage does what the trainer named in ``vlkd_model.json`` did.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlkd.api import SkipItem

if TYPE_CHECKING:
    from PIL import Image


def load_student_image(
    path: str | Path, family: Any, min_pixels: int, max_pixels: int, prescale: bool = True
) -> Image.Image:
    """The pair's image as the student saw it in training; a missing or unreadable file is a
    ``SkipItem`` (:class:`~vlkd.images.decode.BadImage`) naming it."""
    from vlkd.images.files import open_as
    from vlkd.llamafactory.families import prepare_image

    if not path:
        raise SkipItem("the pair's image is not in images.jsonl")
    image = open_as(path)
    return prepare_image(family, image, min_pixels, max_pixels) if prescale else image


def data_url(image: Image.Image) -> str:
    """A PNG ``data:`` URL (what OpenAI-compatible servers take as ``image_url``)."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
