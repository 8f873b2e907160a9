""" "Not present" questions: precision, recall and F1 of answering ``不存在``.

A question is a *positive* when its reference says the information is not in the image
(``negative: true`` in the pair, or the reference itself is the not-present answer); a
prediction is a positive when it says so. A student that always answers ``不存在`` gets
recall 1 but precision equal to the share of negatives, so its F1 stays low, and its exact
match on the other questions is 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vlkd.metrics.normalize import normalize_answer

DEFAULT_NOT_PRESENT = "不存在"
#: other spellings of "not present" that a student may use
NOT_PRESENT_VARIANTS = (
    "不存在",
    "信息不存在",
    "图中不存在",
    "无法确定",
    "未提及",
    "not present",
    "not found",
    "not available",
    "not mentioned",
    "none",
    "na",
)  # compared after normalisation: "N/A" is "na"
#: "不存在" with only filler around it ("图中信息不存在", "答案：不存在") is still "not present";
#: "该零件不存在裂纹" ("the part has no cracks") is a real answer and is not
_FILLED = re.compile(
    r"^(?:图片中|图像中|图中|文档中|该|此|相关|信息|内容|答案|为|是)*不存在"
    r"(?:该信息|此信息|相关信息|信息|此项|该项)?$"
)


def is_not_present(answer: str, not_present: str = DEFAULT_NOT_PRESENT) -> bool:
    text = normalize_answer(answer)
    if not text:
        return False
    return text == normalize_answer(not_present) or text in NOT_PRESENT_VARIANTS or bool(_FILLED.match(text))


@dataclass
class NotPresentCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, reference_negative: bool, predicted_negative: bool) -> None:
        if reference_negative and predicted_negative:
            self.tp += 1
        elif predicted_negative:
            self.fp += 1
        elif reference_negative:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """``2TP / (2TP + FP + FN)``: 0 when the student never says not-present but should."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else None
