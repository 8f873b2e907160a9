"""``resize``: the longest side at most ``max_side``, aspect ratio kept, never upscaled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vlkd.api import PluginOptions, Preprocessor

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.api import ImageRecord

Resample = Literal["lanczos", "bicubic", "bilinear", "box", "hamming", "nearest"]


def resample_filter(name: str) -> int:
    from PIL import Image

    return getattr(Image.Resampling, name.upper())


def resize_to(
    image: Image.Image, record: ImageRecord, target: tuple[int, int], resample: str, why: str
) -> Image.Image:
    """Resize to ``target`` unless it is the size the chain says this step receives."""
    if target == (record.width, record.height):
        return image  # nothing to do (the pixels may be a smaller JPEG draft a later step resizes)
    if image.size != target:
        image = image.resize(target, resample_filter(resample))
    record.notes.append(f"{why}: {record.width}x{record.height} -> {target[0]}x{target[1]}")
    return image


class ResizeOptions(PluginOptions):
    max_side: int = Field(default=1024, ge=1, description="longest side in pixels after resizing")
    resample: Resample = Field(default="lanczos", description="resampling filter")


class Resize(Preprocessor):
    """Shrink so the longest side is at most max_side (aspect ratio kept, never upscaled)."""

    Options = ResizeOptions
    options: ResizeOptions

    def planned_size(self, size: tuple[int, int], header: Image.Image | None = None) -> tuple[int, int]:
        w, h = size
        side = self.options.max_side
        if max(w, h) <= side:
            return size
        if w >= h:
            return side, max(1, round(h * side / w))
        return max(1, round(w * side / h)), side

    def apply(self, image: Image.Image, record: ImageRecord) -> Image.Image:
        target = self.planned_size((record.width, record.height))
        return resize_to(image, record, target, self.options.resample, "resized")
