"""``qwen_smart_resize``: Qwen2-VL's own resize rule, and the visual tokens each image costs.

The output already has the size the student's processor would pick, so the processor
leaves it as it is and ``visual_tokens`` is exact (one token per 28x28 block). Later
stages use it to budget ``cutoff_len``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from vlkd.core.errors import SkipItem
from vlkd.core.options import PluginOptions
from vlkd.core.plugin import Preprocessor
from vlkd.images.qwen import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    AspectRatioError,
    smart_resize,
    visual_tokens,
)
from vlkd.plugins.preprocess.resize import Resample, resize_to

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.core.records import ImageRecord


class QwenSmartResizeOptions(PluginOptions):
    min_pixels: int = Field(
        default=DEFAULT_MIN_PIXELS, ge=1, description="fewest pixels (the student's image_min_pixels)"
    )
    max_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        ge=1,
        description="most pixels (the student's image_max_pixels; LLaMA-Factory uses 768*768)",
    )
    resample: Resample = Field(
        default="bicubic", description="resampling filter (the processor's is bicubic)"
    )

    @model_validator(mode="after")
    def _range(self):
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) must not exceed max_pixels ({self.max_pixels})")
        return self


class QwenSmartResize(Preprocessor):
    """Resize to Qwen2-VL's sizes (multiples of 28, min/max pixels) and count visual tokens."""

    Options = QwenSmartResizeOptions
    options: QwenSmartResizeOptions

    def target(self, size: tuple[int, int]) -> tuple[int, int]:
        h, w = smart_resize(
            size[1], size[0], min_pixels=self.options.min_pixels, max_pixels=self.options.max_pixels
        )
        return w, h

    def planned_size(
        self, size: tuple[int, int], header: Image.Image | None = None
    ) -> tuple[int, int] | None:
        try:
            return self.target(size)
        except AspectRatioError:
            return None  # apply() skips the image with the reason

    def apply(self, image: Image.Image, record: ImageRecord) -> Image.Image:
        try:
            target = self.target((record.width, record.height))
        except AspectRatioError as exc:
            raise SkipItem(
                f"aspect ratio too extreme: {record.path}: {record.width}x{record.height}: {exc}"
            ) from None
        image = resize_to(image, record, target, self.options.resample, "qwen smart_resize")
        record.visual_tokens = visual_tokens(target[1], target[0])
        return image
