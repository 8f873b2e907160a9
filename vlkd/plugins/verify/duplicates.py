"""``duplicates``: the same question twice on one image, and one answer given to most images.

A teacher stuck in a template answers "Brake pads" whatever the page shows; a teacher that
loses count asks one question twice. Questions and answers are compared normalised (case,
full/half width, spaces, punctuation). Negative answers (``不存在``) are expected on many
images and are never ``boilerplate``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vlkd.api import Findings, OneOrMany, Verifier, VerifierOptions
from vlkd.plugins.verify.matching import compact

if TYPE_CHECKING:
    from vlkd.api import ImageRecord, QARecord, StageContext


class DuplicatesOptions(VerifierOptions):
    drop: OneOrMany[Literal["duplicate", "boilerplate"]] = Field(
        default_factory=list, description="drop pairs flagged so (default: keep every pair)"
    )
    boilerplate_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="an answer given on more than this share of the images is boilerplate",
    )
    min_images: int = Field(
        default=4, ge=2, description="fewest images an answer must be given on to be boilerplate"
    )


class Duplicates(Verifier):
    """The same question twice on one image (duplicate); one answer given to most images (boilerplate)."""

    Options = DuplicatesOptions
    options: DuplicatesOptions
    flags = ("duplicate", "boilerplate")

    def __init__(self, options, student=None):
        super().__init__(options, student)
        self.common: dict[str, int] = {}
        self.images = 0

    def start(self, ctx: StageContext, images: list[ImageRecord], pairs: dict[str, list[QARecord]]) -> None:
        seen: dict[str, set[str]] = defaultdict(set)
        for image_id, image_pairs in pairs.items():
            for pair in image_pairs:
                if not pair.negative and compact(pair.answer):
                    seen[compact(pair.answer)].add(image_id)
        self.images = len(pairs)
        o = self.options
        self.common = {
            a: len(ids)
            for a, ids in seen.items()
            if len(ids) >= o.min_images and len(ids) > o.boilerplate_share * self.images
        }

    def check(self, image: ImageRecord, pairs: list[QARecord], found: Findings) -> None:
        first: dict[str, QARecord] = {}
        for pair in pairs:
            q = compact(pair.question)
            if q in first:
                earlier = first[q]
                same = (
                    "the same answer"
                    if compact(earlier.answer) == compact(pair.answer)
                    else (f"answered '{earlier.answer}' there")
                )
                found.flag(pair, "duplicate", f"the same question is asked earlier on this image ({same})")
            else:
                first[q] = pair
            n = self.common.get(compact(pair.answer)) if not pair.negative else None
            if n:
                found.flag(
                    pair,
                    "boilerplate",
                    f"the answer '{pair.answer}' is given on {n} of {self.images} images: "
                    "a teacher stuck in a template?",
                )

    def finish(self, ctx: StageContext) -> dict[str, Any]:
        return {"boilerplate_answers": len(self.common)} if self.common else {}
