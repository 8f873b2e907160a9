"""Student-side image preparation, the same as in training.

Both trainers hand the processor RGB images. LLaMA-Factory's Qwen2-VL plugin first scales
an image into ``[image_min_pixels, image_max_pixels]`` keeping its aspect ratio, makes each
side at least 28 px and the aspect ratio at most 180 (``prescale=True`` here); the ``peft``
trainer leaves that to the processor's ``smart_resize`` with the same bounds. The evaluate
stage does what the trainer named in ``vlkd_model.json`` did.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from vlkd.core.errors import SkipItem

if TYPE_CHECKING:
    from PIL import Image


def load_student_image(
    path: str | Path, min_pixels: int, max_pixels: int, prescale: bool = True
) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    if not path:
        raise SkipItem("the pair's image is not in images.jsonl")
    try:
        with Image.open(path) as im:
            image = im.convert("RGB")
    except FileNotFoundError:
        raise SkipItem(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise SkipItem(f"cannot read image {path}: {exc}") from None
    if not prescale:
        return image
    for bound, grow in ((max_pixels, False), (min_pixels, True)):
        area = image.width * image.height
        if (area < bound) if grow else (area > bound):
            factor = math.sqrt(bound / area)
            image = image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))))
    if min(image.width, image.height) < 28:
        image = image.resize((max(image.width, 28), max(image.height, 28)))
    if image.width / image.height > 200:
        image = image.resize((image.height * 180, image.height))
    elif image.height / image.width > 200:
        image = image.resize((image.width, image.width * 180))
    return image


def data_url(image: Image.Image) -> str:
    """A PNG ``data:`` URL (what OpenAI-compatible servers take as ``image_url``)."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
