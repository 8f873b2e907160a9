"""The offline teacher: OCR (rapidocr, PP-OCRv4) plus extraction rules. Weak, but free and private."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vlkd.api import SkipItem, Teacher, TeacherOptions, TeachRequest, TeachResponse

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from vlkd.api import ImageRecord, StageContext

#: share of 不存在 pairs when ``negative_ratio`` is not set: enough for the student to learn to
#: refuse, few enough not to teach it to refuse everything (see the README on negatives)
DEFAULT_NEGATIVE_RATIO = 0.2


class OCROptions(TeacherOptions):
    concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        json_schema_extra={"fingerprint": False},
        description="images read at once (OCR already uses every core)",
    )
    language: Literal["auto", "zh", "en"] = Field(
        default="auto",
        description="language of the questions (auto: Chinese when the image has Chinese text)",
    )
    min_score: float = Field(default=0.5, ge=0, le=1, description="drop OCR text read with less confidence")
    max_pairs: int = Field(default=40, ge=1, description="most pairs per image")


class OCRTeacher(Teacher):
    """Offline OCR + rules: extractive pairs (fields, table cells, warnings) and negatives. A weak teacher."""

    Options = OCROptions
    options: OCROptions
    requires = ("rapidocr_onnxruntime",)
    extra = "ocr"
    uses_prompt = False
    #: the run's cache directory: each page is read once, for this teacher and the verify checks
    cache_dir: Path | None = None

    def generation_params(self) -> dict[str, Any]:
        o = self.options
        return {
            "language": o.language,
            "min_score": o.min_score,
            "max_pairs": o.max_pairs,
            "negative_ratio": o.negative_ratio,
            "negative_answer": o.negative_answer,
            "rules": 2,  # 2: spaces put back, negatives by the overall share
        }

    async def start(self, ctx: StageContext, images: Sequence[ImageRecord]) -> None:
        self.cache_dir = ctx.cache_dir

    def estimate_tokens(self, request: TeachRequest) -> tuple[int, int]:
        return 0, 0

    def respond_sync(self, request: TeachRequest) -> TeachResponse:
        from vlkd.ocr import group_lines, read_boxes
        from vlkd.plugins.teach.ocr_rules import extract_pairs, line_text

        lines = group_lines(read_boxes(request.image_bytes, self.options.min_score, self.cache_dir))
        if not lines:
            raise SkipItem("OCR found no text on the page: nothing to ask about")
        ratio = (
            self.options.negative_ratio if self.options.negative_ratio is not None else DEFAULT_NEGATIVE_RATIO
        )
        pairs = extract_pairs(
            lines,
            lang=self.options.language,
            negative_answer=self.options.negative_answer,
            negative_ratio=ratio,
            seed=request.image.id,
            max_pairs=self.options.max_pairs,
        )
        text = "\n".join(line_text(line) for line in lines)
        return TeachResponse(text=text, pairs=pairs, model="rapidocr-ppocrv4")
