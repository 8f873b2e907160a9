"""``student_resize``: the student's own resize rule, and the visual tokens each image costs.

The sizes come from the recipe's ``student:`` section: its family's rule (for the Qwen-VL
families, sides rounded to multiples of patch x merge, 28 px for Qwen2-VL and 32 px for
Qwen3-VL) and its ``image_min_pixels``/``image_max_pixels``. The output already has the size
the student's processor would pick, so the processor leaves it as it is and
``visual_tokens`` is exact. Later stages use it to budget ``cutoff_len``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from vlkd.api import PluginOptions, Preprocessor, SkipItem
from vlkd.plugins.preprocess.resize import Resample, resize_to
from vlkd.students.family import AspectRatioError

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.api import ImageRecord, Student


class StudentResizeOptions(PluginOptions):
    resample: Resample = Field(
        default="bicubic", description="resampling filter (the processors' is bicubic)"
    )


class StudentResize(Preprocessor):
    """Resize to the student's sizes (its family's rule, the student: section's pixel limits); count visual tokens."""

    Options = StudentResizeOptions
    options: StudentResizeOptions
    uses_student = True
    moved_options = {
        "min_pixels": "student.image_min_pixels",
        "max_pixels": "student.image_max_pixels",
    }
    student: Student

    def target(self, size: tuple[int, int]) -> tuple[int, int]:
        s = self.student
        return s.family.resize(size[0], size[1], s.image_min_pixels, s.image_max_pixels)

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
        image = resize_to(image, record, target, self.options.resample, f"{self.student.family.name} resize")
        record.visual_tokens = self.student.family.visual_tokens(*target)
        return image
