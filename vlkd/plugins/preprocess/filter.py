"""``filter``: drop images that are too small, too long and thin, or of an unwanted format."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from vlkd.api import PluginOptions, Preprocessor, SkipItem

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.api import ImageRecord

#: names people write for the same Pillow format
FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "MPO": "JPEG"}


def _norm(fmt: str | None) -> str:
    text = (fmt or "").upper().lstrip(".")
    return FORMAT_ALIASES.get(text, text)


class FilterOptions(PluginOptions):
    min_width: int = Field(default=1, ge=1, description="narrower images are dropped")
    min_height: int = Field(default=1, ge=1, description="lower images are dropped")
    min_side: int = Field(default=1, ge=1, description="images whose shorter side is smaller are dropped")
    max_aspect_ratio: float | None = Field(
        default=None, gt=1, description="long side / short side above this is dropped"
    )
    formats: list[str] | None = Field(
        default=None, description="original formats kept, e.g. [jpeg, png]; default: all"
    )

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_norm(v) for v in value]


class Filter(Preprocessor):
    """Drop images below a minimum size, above an aspect ratio, or of other formats."""

    Options = FilterOptions
    options: FilterOptions

    def planned_size(self, size: tuple[int, int], header: Image.Image) -> tuple[int, int]:
        return size

    def apply(self, image: Image.Image, record: ImageRecord) -> Image.Image:
        opts = self.options
        w, h = record.width, record.height  # the size entering this step (before any JPEG draft)
        if w < opts.min_width or h < opts.min_height or min(w, h) < opts.min_side:
            raise SkipItem(
                f"too small: {record.path}: {w}x{h} is below the filter's minimum "
                f"(min_width {opts.min_width}, min_height {opts.min_height}, min_side {opts.min_side})"
            )
        ratio = max(w, h) / min(w, h)
        if opts.max_aspect_ratio is not None and ratio > opts.max_aspect_ratio:
            raise SkipItem(
                f"aspect ratio too extreme: {record.path}: {w}x{h} has aspect ratio {ratio:.2f}, "
                f"over the filter's max_aspect_ratio {opts.max_aspect_ratio}"
            )
        original = _norm(getattr(record, "original", {}).get("format") or record.format)
        if opts.formats is not None and original not in opts.formats:
            raise SkipItem(
                f"format not allowed: {record.path}: {original or 'unknown'} is not one of "
                f"{', '.join(opts.formats)}"
            )
        return image
