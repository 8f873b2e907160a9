"""``to_rgb``: 8-bit RGB from any mode (transparency, palette, CMYK, 16-bit, greyscale)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from vlkd.api import PluginOptions, Preprocessor

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.api import ImageRecord


class ToRGBOptions(PluginOptions):
    background: str = Field(
        default="white", description="colour transparent areas are composited on ('white', '#f0f0f0', ...)"
    )

    @field_validator("background")
    @classmethod
    def _colour(cls, value: str) -> str:
        from PIL import ImageColor

        try:
            ImageColor.getrgb(value)
        except ValueError:
            raise ValueError(f"unknown colour {value!r}; use a name like 'white' or '#rrggbb'") from None
        return value


class ToRGB(Preprocessor):
    """Convert to 8-bit RGB correctly: transparency on a background, CMYK, 16-bit, greyscale."""

    Options = ToRGBOptions
    options: ToRGBOptions

    def planned_size(self, size: tuple[int, int], header: Image.Image) -> tuple[int, int]:
        return size

    def apply(self, image: Image.Image, record: ImageRecord) -> Image.Image:
        from PIL import ImageColor

        from vlkd.images.color import to_rgb

        background = ImageColor.getrgb(self.options.background)[:3]
        out, note = to_rgb(image, background)  # type: ignore[arg-type]
        if note:
            record.notes.append(note)
        return out
