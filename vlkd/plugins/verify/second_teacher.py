"""``second_teacher``: another teacher answers the same questions; disagreement is flagged.

``teacher`` is a teach section (``{plugin: anthropic, model: claude-sonnet-4-5, api_key:
${env:ANTHROPIC_API_KEY}}``). Before the per-image loop the check asks it, for each image,
the questions the first teacher wrote (prompt: ``prompts/<language>/answer_questions.txt``),
through the core teach driver: concurrency, rate limits, retries, the response cache, cost,
``max_cost`` and ``--dry-run`` are the teach stage's own, and its ledger in
``verify/second_teacher/`` makes a killed run resume without paying twice.

A pair is ``disagree`` when the answers differ: ANLS below ``anls_threshold`` (0.5), or one
says ``不存在`` and the other does not. A question the second teacher did not answer, or an
image it failed on, leaves the pairs unflagged, with a note saying so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from vlkd.api import UNVERIFIABLE, Findings, OneOrMany, Verifier, VerifierOptions
from vlkd.plugins.verify.matching import compact

if TYPE_CHECKING:
    from vlkd.api import ImageRecord, QARecord, StageContext, Teacher

PROMPTS = Path(__file__).parent / "prompts"
SUBDIR = "second_teacher"


class SecondTeacherOptions(VerifierOptions):
    drop: OneOrMany[Literal["disagree", "unverifiable"]] = Field(
        default_factory=list, description="drop pairs flagged so (default: keep every pair)"
    )
    teacher: Any = Field(
        description="a teach section: {plugin: anthropic, model: ..., api_key: ${env:ANTHROPIC_API_KEY}, ...}; "
        "its service options (concurrency, rpm, max_cost, ...) work as in teach",
        json_schema_extra={"fingerprint": False, "type": "object", "required": ["plugin"]},
    )
    anls_threshold: float = Field(
        default=0.5, gt=0, le=1, description="answers with a lower ANLS than this disagree"
    )

    @field_validator("teacher", mode="before")
    @classmethod
    def _a_teacher_section(cls, value: Any) -> Any:
        from pydantic import BaseModel

        if isinstance(value, BaseModel):
            return value
        return teacher_options(value)


def teacher_options(section: Any):
    """The teacher section validated by its plugin's own options, asked to answer given questions."""
    from pydantic import ValidationError

    from vlkd.api import PluginError, find_plugin

    if not isinstance(section, dict) or not section.get("plugin"):
        raise ValueError("teacher must be a teach section with 'plugin: NAME' (e.g. openai, anthropic)")
    try:
        info = find_plugin("teach", str(section["plugin"]))
        info.check_available()
    except PluginError as exc:
        raise ValueError(f"teacher: {exc}") from None
    data = dict(section)
    if getattr(info.cls, "uses_prompt", True):
        prompt = dict(data.get("prompt") or {})
        language = prompt.get("language", "zh")
        prompt.setdefault("system", str(PROMPTS / str(language) / "answer_questions.txt"))
        prompt["variables"] = {**(prompt.get("variables") or {}), "questions": ""}
        data["prompt"] = prompt
    data["negative_ratio"] = None  # every answer counts, negatives included
    try:
        return info.cls.Options.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"teacher.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}".replace("Value error, ", "")
            for e in exc.errors()
        )
        raise ValueError(problems) from None


class SecondTeacher(Verifier):
    """Another teacher answers the same questions; answers that differ are flagged (disagree)."""

    Options = SecondTeacherOptions
    options: SecondTeacherOptions
    flags = ("disagree", UNVERIFIABLE)

    def __init__(self, options, student=None):
        super().__init__(options, student)
        self.teacher: Teacher = self._make_teacher()
        self.entries: dict[str, dict[str, Any]] = {}
        self.facts: dict[str, Any] = {}

    def _make_teacher(self) -> Teacher:
        from vlkd.api import find_plugin

        opts = self.options.teacher
        return find_plugin("teach", opts.plugin).cls(opts)

    def fingerprint(self) -> Any:
        from vlkd.api import fingerprint_options as _fingerprint_options

        return {"teacher": _fingerprint_options(self.options.teacher), "extra": self.teacher.fingerprint()}

    def _sub(self, ctx: StageContext) -> StageContext:
        from vlkd.api import ItemCounts

        # the teacher's own ledger and facts; its usage counts in the verify stage's
        return dataclasses.replace(ctx, dir=ctx.dir / SUBDIR, counts=ItemCounts(), _ledger=None, facts={})

    def start(self, ctx: StageContext, images: list[ImageRecord], pairs: dict[str, list[QARecord]]) -> None:
        from vlkd.api import run_teach

        def questions(image: ImageRecord) -> dict[str, str]:
            return {"questions": "\n".join(p.question for p in pairs[image.id])}

        sub = self._sub(ctx)
        sub.dir.mkdir(parents=True, exist_ok=True)
        try:
            run_teach(sub, self.teacher, images, questions)
            self.entries = dict(sub.ledger().entries)
        finally:
            sub.close()
        self.facts = {
            k: sub.facts[k] for k in ("model", "failed_images", "pairs", "retries") if k in sub.facts
        }

    def check(self, image: ImageRecord, pairs: list[QARecord], found: Findings) -> None:
        entry = self.entries.get(image.id)
        who = self.teacher.model or self.options.teacher.plugin
        if entry is None or entry.get("status") != "ok":
            reason = (entry or {}).get("reason") or "not asked"
            found.note(f"the second teacher ({who}) failed on this image: {reason}; its pairs pass unflagged")
            for pair in pairs:
                found.record(pair, answered=False)
            return
        answers = {compact(r["question"]): r for r in entry.get("records", ())}
        missing = 0
        for pair in pairs:
            other = answers.get(compact(pair.question))
            if other is None:
                missing += 1
                found.record(pair, answered=False)
                continue
            score = agreement(pair.answer, pair.negative, other["answer"], bool(other.get("negative")))
            found.record(pair, answer=other["answer"], anls=round(score, 3))
            if score < self.options.anls_threshold:
                found.flag(pair, "disagree", f"{who} answers '{other['answer']}' (ANLS {score:.2f})")
        if missing:
            found.note(f"the second teacher ({who}) did not answer {missing} of {len(pairs)} questions")

    def finish(self, ctx: StageContext) -> dict[str, Any]:
        return self.facts

    def estimate(self, ctx: StageContext, images: list[ImageRecord] | None) -> list[str]:
        from vlkd.api import estimate_teach as estimate

        sub = self._sub(ctx)
        return estimate(sub, self.teacher, images)


def agreement(first: str, first_negative: bool, second: str, second_negative: bool) -> float:
    """1.0 when both say 不存在, 0.0 when only one does, else the ANLS of the two answers."""
    from vlkd.metrics.scores import anls_single

    if first_negative or second_negative:
        return 1.0 if first_negative == second_negative else 0.0
    return anls_single(second, first)
