"""``exif_transpose``: turn the pixels upright as the camera's EXIF orientation says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlkd.api import Preprocessor

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.api import ImageRecord

ORIENTATION = 0x0112
#: orientations that swap width and height (rotated by 90 or 270 degrees)
SWAPS = frozenset({5, 6, 7, 8})


def orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ORIENTATION, 1) or 1)
    except Exception:  # an unreadable EXIF block: treat as upright
        return 1


class ExifTranspose(Preprocessor):
    """Apply the EXIF orientation (phone photos are often stored rotated)."""

    def planned_size(self, size: tuple[int, int], header: Image.Image) -> tuple[int, int]:
        return (size[1], size[0]) if orientation(header) in SWAPS else size

    def apply(self, image: Image.Image, record: ImageRecord) -> Image.Image:
        from PIL import ImageOps

        value = orientation(image)
        if value in (0, 1) or value > 8:
            return image
        out = ImageOps.exif_transpose(image)
        record.notes.append(f"applied EXIF orientation {value}")
        return out
