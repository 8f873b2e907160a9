"""``ocr_grounding``: extractive answers must be printed on the page; 不存在 must not be.

Offline, with rapidocr's PP-OCRv4 models. The page is read once per run and shared with the
``ocr`` teacher and ``ocr_context`` (``vlkd.ocr.read_boxes``).

- An answer the check finds extractive (a code, a number with or without its unit, a short
  name: ``vlkd.plugins.verify.extractive``) whose text is not in the page's OCR text is
  ``ungrounded``. Each pair's decision is kept in ``checks.ocr_grounding`` (``kind``, and the
  match ``score``). Matching is normalised (case, full/half width, spaces, punctuation) and
  fuzzy: names need ``threshold``; codes and numbers ``number_threshold`` after folding OCR's
  letter/digit confusions (O/0, l/1), since one wrong digit is another part.
- A negative (``不存在``) whose question's subject is printed on the page (asks for the
  warranty date, the page prints "Warranty expires ...") is ``negative_suspect``.
- A page the OCR cannot read, or on which it finds no text, leaves its pairs ``unverifiable``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vlkd.api import UNVERIFIABLE, Findings, OneOrMany, Verifier, VerifierOptions
from vlkd.plugins.verify.extractive import answer_kind, question_subject
from vlkd.plugins.verify.matching import best_substring_score, compact, fold_code, found_exact

if TYPE_CHECKING:
    from pathlib import Path

    from vlkd.api import ImageRecord, QARecord, StageContext

Kind = Literal["code", "number", "name"]
_NUMBER_PART = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
_CODE_CHAR = re.compile(r"[A-Za-z0-9-]")
_PART_NUMBER = re.compile(r"^\d{3,}(-[0-9A-Za-z]{3,})+$")


class OCRGroundingOptions(VerifierOptions):
    drop: OneOrMany[Literal["ungrounded", "negative_suspect", "unverifiable"]] = Field(
        default_factory=list, description="drop pairs flagged so (default: keep every pair)"
    )
    kinds: list[Kind] = Field(
        default_factory=lambda: ["code", "number", "name"], description="which extractive answers are checked"
    )
    threshold: float = Field(
        default=0.8, gt=0, le=1, description="fuzzy match a name needs (1 - edits/length of the answer)"
    )
    number_threshold: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="match a code or number needs, after folding OCR confusions (1.0: every character)",
    )
    subject_threshold: float = Field(
        default=0.85, gt=0, le=1, description="match a negative's question subject needs to be 'on the page'"
    )
    min_score: float = Field(
        default=0.3, ge=0, le=1, description="OCR text read with less confidence is ignored"
    )


class OCRGrounding(Verifier):
    """Extractive answers not on the page's OCR text (ungrounded); 不存在 for what the page prints (negative_suspect)."""

    Options = OCRGroundingOptions
    options: OCRGroundingOptions
    requires = ("rapidocr_onnxruntime",)
    extra = "ocr"
    flags = ("ungrounded", "negative_suspect", UNVERIFIABLE)

    cache_dir: Path | None = None
    run_dir: Path | None = None

    def start(self, ctx: StageContext, images: list[ImageRecord], pairs: dict[str, list[QARecord]]) -> None:
        self.cache_dir = ctx.cache_dir
        self.run_dir = ctx.run_dir

    def check(self, image: ImageRecord, pairs: list[QARecord], found: Findings) -> None:
        from vlkd.api import image_path
        from vlkd.ocr import OCRError, read_boxes

        path = image_path(self.run_dir, image.path) if self.run_dir is not None else image.path
        try:
            boxes = read_boxes(path, self.options.min_score, self.cache_dir)
        except (OCRError, OSError) as exc:
            reason = f"the page cannot be read: {getattr(exc, 'strerror', None) or exc}"
            found.note(f"{image.path}: {reason}")
            for pair in pairs:
                found.flag(pair, UNVERIFIABLE, reason)
            return
        if not boxes:
            for pair in pairs:
                found.flag(pair, UNVERIFIABLE, "OCR finds no text on the page: nothing to check against")
            return
        raw = "\n".join(b.text for b in boxes)
        page = Page(raw)
        for pair in pairs:
            if pair.negative:
                self._negative(pair, page, found)
            else:
                self._positive(pair, page, found)

    def _positive(self, pair: QARecord, page: Page, found: Findings) -> None:
        kind = answer_kind(pair.answer)
        if kind is None or kind not in self.options.kinds:
            found.record(pair, kind=kind or "free", checked=False)
            return
        score = page.score(pair.answer, kind)
        found.record(pair, kind=kind, score=round(score, 3))
        need = self.options.threshold if kind == "name" else self.options.number_threshold
        if score < need:
            found.flag(
                pair,
                "ungrounded",
                f"the {kind} '{pair.answer}' is not in the page's text as OCR reads it "
                f"(best match {score:.0%}, needs {need:.0%})",
            )

    def _negative(self, pair: QARecord, page: Page, found: Findings) -> None:
        parts = question_subject(pair.question)
        printed = None
        if parts and min(page.subject_score(p) for p in parts) >= self.options.subject_threshold:
            printed = " / ".join(parts)
        if printed is None:
            printed = page.field_shown(pair.question)
        found.record(pair, kind="negative", subject=parts)
        if printed is not None:
            found.flag(
                pair,
                "negative_suspect",
                f"answered '{pair.answer}', but the page prints '{printed}': is it there after all?",
            )


class Page:
    """A page's OCR text in the forms answers are compared with."""

    def __init__(self, raw: str):
        self.raw = raw
        self.compact = compact(raw)
        self.folded = fold_code(self.compact)

    def score(self, answer: str, kind: str) -> float:
        a = compact(answer)
        if not a:
            return 1.0
        if kind == "name":
            if a in self.compact:
                return 1.0
            if len(a) <= 3:
                return 0.0  # too short to match loosely
            return best_substring_score(a[:64], self.compact)
        folded = fold_code(a)
        if found_exact(folded, self.folded, digits_bounded=True):
            return 1.0
        if kind == "number":
            # "103 N·m" where the table prints 103 in a column headed "Torque (N·m)"
            numbers = [fold_code(compact(n)) for n in _NUMBER_PART.findall(answer)]
            unit = re.sub(r"[\d.,]", "", folded)
            numbers_shown = all(found_exact(n, self.folded, digits_bounded=True) for n in numbers)
            if numbers and numbers_shown and (not unit or unit in self.folded):
                return 1.0
        return best_substring_score(folded, self.folded)

    def subject_score(self, subject: str) -> float:
        s = compact(subject)
        if not s:
            return 0.0
        if s in self.compact:
            return 1.0
        if len(s) <= 3:
            return 0.0
        return best_substring_score(s[:64], self.compact)

    def field_shown(self, question: str) -> str | None:
        """A common field the question asks for whose label or unit the page prints ("12 V")."""
        from vlkd.ocr.fields import FIELDS

        q = question.lower()
        for f in FIELDS:
            if f.zh in question or f.en in q:
                for m in f.present.finditer(self.raw):
                    # a match inside a part number ("47730-06330" holds no date) does not count
                    start, end = m.start(), m.end()
                    while start > 0 and _CODE_CHAR.match(self.raw[start - 1]):
                        start -= 1
                    while end < len(self.raw) and _CODE_CHAR.match(self.raw[end]):
                        end += 1
                    if not _PART_NUMBER.match(self.raw[start:end]):
                        return self.raw[start:end].strip()
        return None
